// Package core is the application side of ifsock: one asynchronous socket
// API, Dooba's, over interchangeable network interfaces, and the net.Conn
// and net.Listener adapters that let Go code written for package net run
// over any of them unchanged.
//
// # Hosts and interfaces
//
// A [Host] holds named interfaces ("lo0", "eth0", "wl0"), each served by a
// driver: an in-memory loopback, the host OS's network, an ESP8266 WiFi
// module on a serial port, or any driver written with package sdk. Drivers
// run as separate processes (plugins) and are started on first use;
// built-in drivers run as the host binary itself, re-executed in plugin
// mode, so a host's main must call [ServeBuiltin] first:
//
//	func main() {
//		core.ServeBuiltin(builtin.Drivers)
//		h, err := core.New(core.Config{Builtins: builtin.Drivers})
//		...
//		lo0, err := h.Interface("lo0")
//
// A driver process that dies is noticed at once: every socket on it gets
// its one disconnect (reason sdk.ErrDriverExited), and the interface starts
// the driver again so later calls work ([Interface.State],
// [Interface.Restarts]).
//
// # The socket API
//
// [Interface.Connect] and [Interface.Listen] open sockets and take
// [Handlers], the callbacks: the framework calls Connected when a listener
// accepted a socket, Received when data arrived, and Disconnected when the
// peer, the link or the driver dropped the socket. An application sends
// whenever it wants ([Socket.Send]) and never receives: data comes to it.
// For one socket callbacks run one at a time, in order; a slow Received
// holds back that socket's peer alone (flow control). A local
// [Socket.Close] runs no callback. Listen on port 0 lets the driver pick a
// free port: [Socket.Local] says which.
//
// # Go code that speaks net
//
// [Interface.DialContext] and [Interface.NetListen] give a [*Conn]
// (net.Conn) and a [*Listener] (net.Listener): swap them for net.Dial and
// net.Listen, or hand DialContext to a library that takes a dialer
// (http.Transport.DialContext, gRPC's WithContextDialer, go-redis, pgx).
// They keep net's conventions:
//
//   - addresses are *net.TCPAddr with the real IP and port (the OS's on
//     hostnet, 127.0.0.1 or ::1 on the loopback, the module's station IP on
//     an ESP8266); the interface's name is [Conn.Interface] and
//     [Listener.Interface];
//   - deadlines fail with os.ErrDeadlineExceeded (a net.Error whose Timeout
//     is true), Read gives io.EOF at the peer's orderly close, calls after
//     Close give net.ErrClosed, and errors are *net.OpError;
//   - a Write that fails partway returns the count it committed, as
//     io.Writer says;
//   - DialContext's network is "tcp", "tcp4" or "tcp6" (the last two
//     restrict the address family).
//
// # Errors
//
// Errors belong to the closed vocabulary of package sdk: match them with
// errors.Is(err, sdk.ErrRefused) and the like, in process and across the
// plugin boundary alike. Those that have an errno also match it, so error
// handling written for net keeps working: a refused dial matches
// syscall.ECONNREFUSED, a write after the peer reset the connection
// syscall.ECONNRESET (and EPIPE), and so on (see sdk.ErrRefused). Each
// error says what happened once, then what to do.
//
// # Bounding calls
//
// Calls that may block take a context: Connect, Listen,
// [Socket.SendContext], [Socket.PeerContext], [Socket.LocalContext],
// [Socket.CloseWriteContext], [Socket.CloseContext]. Their simple forms
// (Send aside, which blocks while the peer does not read, as TCP's write
// does) wait at most [Config].CallTimeout; the host's own waits are
// Config's StartTimeout and AdoptTimeout.
package core
