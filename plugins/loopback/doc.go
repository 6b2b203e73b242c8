// Package loopback is the in-memory driver: its Listen and Connect meet
// inside the process, so it needs no network at all. It is the default
// interface of the host, and the reference driver the conformance suite
// (package sdk/sdktest) and the core's tests run against.
//
// # Addresses
//
// Connect reaches only this driver's own listeners, through the hosts
// 127.0.0.1, localhost and ::1; any other host is ErrUnreachable, and a port
// with no listener is ErrRefused. A client socket gets an ephemeral port
// (49152-65535): its Peer is the listener's address (127.0.0.1:port, or
// [::1]:port when it connected to ::1), and the accepted socket's Peer is
// the client's ephemeral address. A connection takes two sockets of the
// limit, one per end; a listener takes one.
//
// # Data path and flow control
//
// Each socket has a bounded inbound window (setting buffer) and one
// goroutine, the only one raising that socket's events: Accepted first for
// an accepted socket, then Received calls of at most 64 KiB, in byte order,
// then at most one Finished, then at most one Dropped. Send copies into the peer's window and waits
// while it is full, so a slow Received handler holds back its own peer and
// nothing else, and memory stays bounded by the window. Sends on one socket
// run one at a time: the bytes of one Send are never interleaved with
// another's.
//
// # Closing and half-closing
//
// The driver keeps TCP's half-close (design rule 11, Info.CanHalfClose).
// CloseWrite on one end delivers what it sent, then the other end gets
// Finished and stays open: it still sends to the half-closed end, which
// still receives; Send on the half-closed end is ErrClosed.
//
// Closing one end locally (CloseSocket) raises no event for it; the other
// end gets the data the closed end sent, then Finished, and stays open until
// its host closes it. Nothing reaches the closed end any more: what the
// other end had sent that it had not received is discarded, and a Send on
// the other end fails with ErrReset and drops it (Dropped(ErrReset), after
// its Finished), as a TCP write to a closed peer is answered with a reset.
//
// A reset (drop_after, DropSocket) raises Dropped(ErrReset) on both ends,
// after the data already queued to each, also after a Finished. A dropped
// socket is freed before its Dropped is raised: Send on it is then
// ErrClosed, as is CloseSocket.
//
// # Ownership and closing
//
// The Driver owns its sockets and one goroutine per socket; after Finished
// that goroutine stays, idle, until the socket is closed or dropped.
// CloseSocket halts a socket and Close halts them all: no new event of a
// halted socket starts once the call returns. Neither waits for an event handler that is
// running, since it may be the caller (a handler may close its own socket,
// or the driver): that handler finishes, and its goroutine then exits
// without another event. Close waits, within its ctx, for every other
// goroutine of the driver to exit. Close is idempotent. The driver never
// writes to stdout; it logs
// through the hclog logger of Open.
//
// # Settings
//
//	max_sockets  sockets held at once, listeners and both ends included (default 1024)
//	buffer       inbound window of each socket in bytes (default 262144)
//	refuse       true: every Connect fails with ErrRefused
//	delay        a duration waited before each delivery of data (e.g. 5ms)
//	drop_after   bytes: a socket is dropped with ErrReset once it received that many
//
// With [Driver.DropSocket], a test in the same process drops a socket as if
// its link failed.
package loopback
