// Package esp8266 is the driver of an ESP8266 WiFi module running
// Espressif's AT firmware, reached through a serial port: it implements the
// [sdk.Driver] contract with the module's own TCP/IP stack, so that an
// application using the ifsock socket API can use the module's WiFi network
// exactly as it would any other interface.
//
// Both firmware families are handled: NonOS AT 1.x (1.7 is the last and the
// one tested; 1.1 to 1.6 work in active receive mode) and ESP-AT 2.x for the
// ESP8266 (2.0 to 2.2). The byte-level reference the driver follows is the
// project's esp-at-reference.md.
//
// # Settings
//
//	port=/dev/ttyUSB0  the serial device; required unless the Driver was made
//	                   by NewOnPort
//	baud=115200        the module's UART rate (the driver does not change it)
//	ssid=, password=   the WiFi network to join. With no ssid the module keeps
//	                   the network it joins by itself. The password is never
//	                   logged, not even in a trace.
//	join=true          join ssid at Open (and after a module reset) unless the
//	                   module is on it already; false leaves the WiFi alone
//	firmware=auto      auto (from AT+GMR), 1.7 or 2.2: force a dialect
//	trace=false        log every byte on the wire (escaped, "rx"/"tx") at
//	                   info level: the log to send with a bug report
//	passive=auto       passive receive (AT+CIPRECVMODE=1) where the firmware
//	                   has it (1.7+ and 2.x); on requires it; off never uses it
//	buffer=16384       bytes of received data held per socket between the
//	                   module and the host
//	timeout=10s        how long one AT command may take (connects and DNS get
//	                   at least 20 s, a WiFi join at least 30 s)
//
// Unknown settings are rejected with sdk.ErrBadArgument naming the known ones.
//
// # Limits
//
// The module has five links (ids 0-4) and one TCP server, which takes no
// link: Info.MaxSockets is 6, Info.MaxListeners 1 and Info.MaxConnections 5,
// so five connections (made or accepted) are served besides the listener; a
// sixth client is refused by the module itself. A connect to the module's
// own server (a loopback address or the module's own address, and the
// listener's port) needs two links, one for the accepted side: Connect checks both and returns
// once the module has announced that side. A second Listen is
// sdk.ErrUnsupported. The module has no "any port" form of AT+CIPSERVER:
// Listen on port 0 picks a port from 49152-65535 itself, trying another
// while the module refuses one. Local reports the module's station IP with
// the server's port for the listener and its accepted sockets, and with the
// link's own port (AT+CIPSTATUS) for a connection the module made. One AT+CIPSEND takes at
// most 2048 bytes (Info.MaxWrite): Send splits. Only TCP over IPv4: an IPv6
// address is sdk.ErrUnsupported. Host names are resolved by the module
// (AT+CIPDOMAIN). Throughput is bounded by the UART: baud/10 bytes per second
// shared by both directions and by the AT framing.
//
// # Goroutines and ownership
//
// The Driver owns the port and four kinds of goroutines, all stopped by
// Close, which then closes the port:
//
//   - one reader, the only reader of the port. It runs a byte-stream
//     tokenizer (not a line reader): +IPD and +CIPRECVDATA payloads are read
//     by their announced length, the ">" prompt is found without a line end,
//     and unknown lines and garbage are tolerated. It splits command
//     responses from unsolicited messages (CONNECT, CLOSED, +IPD, WIFI...,
//     ready) and never blocks on the host.
//   - one command runner, the only writer of the port. Commands run one at a
//     time: the runner writes a line and waits for its final result (OK,
//     ERROR, FAIL, SEND OK, SEND FAIL); a reply is complete only by its
//     final token. "busy p..."/"busy s..." mean the module dropped the line:
//     it is sent again with a growing pause, within the timeout. A command
//     on the wire is always finished, even when its caller's ctx ends (the
//     module would be left half way through it, waiting for CIPSEND data).
//     After a timeout the runner gets back in step (AT+CIPMUX? until its own
//     answer comes back) before the next command.
//   - in passive mode, one fetch pump, which reads a socket's data from the
//     module (AT+CIPRECVDATA, 2048 bytes at most) only while that socket's
//     queue has room (the buffer setting). A slow handler thus leaves the
//     data in the module, whose TCP window then holds the peer back: flow
//     control per socket (design rule 6).
//   - one deliverer per socket, which raises that socket's events one at a
//     time and in order: Accepted, then Received in byte order, then at most
//     one Dropped. Events.Received may block; only that socket waits.
//
// In active mode (firmware before 1.7, or passive=off) the module sends data
// as it comes, with no flow control: each socket buffers at most the buffer
// setting, and a socket whose host does not keep up is dropped with
// sdk.ErrOverflow and an error in the log, never silently losing bytes.
//
// # Events and errors
//
// A close by the peer ("<id>,CLOSED") is Dropped(sdk.ErrPeerClosed), after
// all the socket's data: the module has closed the link both ways by then,
// so there is no Finished and no half-close (Info.CanHalfClose is false,
// CloseWrite is sdk.ErrUnsupported; close the socket instead). In passive
// mode a 1.x module may print CLOSED while data is still buffered, and
// answer AT+CIPRECVDATA short: the driver reads until the module's
// buffered total is drained, asks AT+CIPRECVLEN? that nothing is left,
// then raises the drop. SEND FAIL fails the
// Send with sdk.ErrReset and drops the socket with it; only the first
// verdict of a send counts (1.x may print SEND FAIL right after SEND OK). A
// CIPSEND answered by a close instead of its prompt fails the Send with
// sdk.ErrPeerClosed (nothing of it was sent) and drops the socket with
// sdk.ErrPeerClosed. A module reset ("ready" at any time) drops every
// socket, the listener included, with sdk.ErrDevice, and the module is
// brought up again. A failed serial port drops every socket with
// sdk.ErrDevice and fails every later call. A local CloseSocket or Close
// raises no Dropped (design rule 3).
//
// Bring-up, at Open and after every module reset: AT until OK (through boot
// garbage and "ready"), ATE0, AT+GMR (the dialect: "AT version:1." or "2."),
// station mode (AT+CWMODE_CUR=1 on 1.x, AT+CWMODE=1 on 2.x), the WiFi join
// (queried first), AT+CIPSERVER=0 and AT+CIPCLOSE=5 (what an earlier run
// left open), AT+CIPMUX=1, AT+CIPDINFO=1, AT+CIFSR (the module's address)
// and AT+CIPRECVMODE=1 where the firmware has it.
//
// Connect errors: sdk.ErrNameNotResolved (the module could not resolve the
// name), sdk.ErrRefused (the module could not connect: it does not tell a
// refusal from an unreachable host or a timeout), sdk.ErrUnreachable (the
// module has no IP address), sdk.ErrNoSockets (no link left).
//
// Nothing in this package writes to stdout: in a plugin process stdout
// carries the plugin handshake. The driver logs through the hclog.Logger of
// the OpenRequest.
package esp8266
