// Package hostnet is the driver of the host operating system's own TCP/IP
// network: it implements the [sdk.Driver] contract with package net, so that
// an application using the ifsock socket API can reach real hosts (and be
// reached) exactly as it would through any other interface.
//
// # Settings
//
//	bind=127.0.0.1      address Listen binds. The default keeps listeners on
//	                    this machine; exposing a port to the network is a
//	                    decision to write down: bind=0.0.0.0 (IPv4) or
//	                    bind=:: (IPv6 and IPv4).
//	connect_timeout=10s how long Connect waits for the peer (ctx may end it sooner)
//	max_sockets=1024    sockets held at once, listeners included; beyond it
//	                    Connect and Listen fail at once with sdk.ErrNoSockets
//	                    and incoming connections are refused (and logged)
//	read_size=131072    largest chunk per Events.Received: the data
//	                    path's largest frame
//	keepalive=15s       TCP keep-alive period, or off
//	nodelay=true        TCP_NODELAY: send small writes at once
//
// Unknown settings are rejected with sdk.ErrBadArgument naming the known ones.
//
// # Sockets and goroutines
//
// Every connected socket (made by Connect or accepted by a listener) has one
// reader goroutine, and every listener one accept goroutine. The driver owns
// them; Driver.Close closes every socket and waits for them. After the peer's
// FIN a reader stops reading and waits for its socket's close.
//
// The reader is the flow control of design rule 6: it reads from the OS only
// as fast as the host consumes. It reads at most read_size bytes (an idle
// socket's buffer starts at 4 KiB and doubles while reads fill it), hands them
// to Events.Received (which takes ownership of the slice and blocks while the
// host's receive window for the socket is full), and only then reads again.
// What the host has not consumed stays in the kernel's socket buffers, and
// TCP holds the peer back: a slow handler on one socket slows only that
// socket's peer, and memory stays bounded whatever the peers send.
//
// # Events
//
// An accepted socket is announced with Events.Accepted, from its own reader,
// before any of its data. A reset is reported with Events.Dropped
// (sdk.ErrReset); the socket is then closed and its slot free. A local
// CloseSocket, or Close, raises no Dropped (design rule 3). When
// Events.Received returns an error the reader stops reading that socket.
//
// # Half-close
//
// The driver keeps TCP's half-close (design rule 11, Info.CanHalfClose). The
// peer's orderly close (FIN) is Events.Finished, after the last of its data:
// the socket stays open and writable, so replies to the peer's last request
// still reach it, until the host's CloseSocket frees it (as a TCP socket in
// CLOSE_WAIT keeps its descriptor until close). A peer that closed fully
// answers later writes with a reset: that Send fails with sdk.ErrReset and
// the socket is Dropped. Driver.CloseWrite is the local half-close: after
// the bytes of earlier Sends the peer reads EOF, the socket still receives,
// and later Sends fail with sdk.ErrClosed. CloseSocket delivers the bytes of
// Sends that returned, then closes in order, as TCP's close does.
//
// # Errors
//
// Errors are those of the sdk vocabulary, wrapping the net error as cause:
// a refused connection is sdk.ErrRefused, no route sdk.ErrUnreachable, an
// unknown host name sdk.ErrNameNotResolved, a dial past connect_timeout or
// its ctx deadline sdk.ErrTimeout, a canceled ctx sdk.ErrCanceled, a port in
// use sdk.ErrAddressInUse.
//
// Nothing in this package writes to stdout: in a plugin process stdout
// carries the plugin handshake. The driver logs through the hclog.Logger of
// the OpenRequest.
package hostnet
