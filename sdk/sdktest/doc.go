// Package sdktest is the conformance suite of the driver contract: it proves
// that an sdk.Driver keeps the rules of package sdk, in process or through a
// plugin process (the host's proxy of a plugin is itself an sdk.Driver, so
// the same suite runs over RPC unchanged).
//
// # Running it
//
// A driver author calls [Run] from a test of the driver's package with a
// [Harness]: a function making a fresh, unopened driver, and what the
// driver can reach. Only New is required; every other field unlocks more
// subtests, and a subtest whose needs are not met is skipped with a message
// naming the field to set.
//
//	func TestConformance(t *testing.T) {
//		sdktest.Run(t, sdktest.Harness{
//			New:           func(testing.TB) sdk.Driver { return mydriver.New() },
//			Settings:      sdk.Settings{"baud": "115200"},
//			LimitSettings: sdk.Settings{"baud": "115200", "max_sockets": "4"},
//			SelfHost:      "127.0.0.1", // Connect reaches the driver's own listeners
//			// Port 0: the driver picks each listener's port (rule 12).
//			FreePort: func(testing.TB) int { return 0 },
//			EchoServer: startEchoServer, // optional: a TCP echo server the driver can reach
//			Dial: func(t testing.TB, port int) (net.Conn, error) {
//				return net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
//			},
//		})
//	}
//
// Run it with the race detector, several times, to catch the rare cases:
//
//	go test -race -count=3 -run TestConformance ./plugins/mydriver/
//
// # What it checks
//
// Each subtest opens its own driver with the suite's own sdk.Events, which
// records every event per socket and fails the subtest at once when a rule
// breaks: an event for a socket nobody announced, two events of one socket
// running at once, Accepted after another event of its socket, anything
// after Dropped or after a local CloseSocket returned, a second Dropped, any
// event after Close returned, Received after Finished, a second Finished,
// Finished from a driver whose Info.CanHalfClose is false. Received and
// Finished run the subtest's handlers synchronously, so a handler that
// blocks really holds the driver back (that is how flow control is tested),
// and a handler may Send or CloseSocket from inside the event, as an
// application does.
//
// The subtests cover: Open and Close (twice), ErrNotOpen before Open and
// after Close, unknown settings, bad arguments, a canceled context, refused
// connections; echoes of 1 B to 1 MiB compared byte for byte, 100 round
// trips, a burst of 100 sends, a 1 MiB stream, sends from inside handlers
// on both ends, concurrent Sends on one socket; a peer's close (its data,
// then Finished where the driver can half-close, the socket staying open
// until the host closes it, else exactly one Dropped(ErrPeerClosed)), a
// local close (no event), a close from inside a handler, Close with sockets
// open and data flowing, CloseSocket right after Sends still delivering
// every byte of them; peer addresses, two listeners, closing a listener, a
// port in use, IPv6; the socket limit (ErrNoSockets, never a hang; a socket
// freed makes room), 200 sockets opened and closed without leaking sockets
// or goroutines; eight connections at once, and a blocked handler that
// holds back its own peer (Send blocks until its ctx ends) but not another
// socket; and connections to an echo server outside the driver and from
// outside into a listener.
//
// The HalfClose subtests check rule 11 where Info.CanHalfClose is true: a
// socket whose peer finished stays writable; an echo that closes itself
// from inside Finished returns a whole 4 MiB stream to a client that
// half-closed; Send after CloseWrite and a second CloseWrite are ErrClosed;
// and the same with peers outside the driver (the echo server, a dialled
// connection half-closing, and the driver half-closing toward it). On a
// driver that cannot half-close they skip, and HalfClose/Unsupported checks
// that CloseWrite is ErrUnsupported and leaves the socket working.
//
// ListenPortZero and LocalAddress check rule 12: Listen on port 0 gets a
// port the driver picks, which Local reports and which Connect (or
// Harness.Dial) reaches; Local of connected and accepted sockets is an IP
// address with a non-zero port, equal to the other end's Peer.
//
// # Time
//
// On an in-memory driver the whole suite runs in well under a second. Every
// wait is bounded: a call or a wait for an event fails its subtest after
// 10 s, and a watchdog fails a subtest after 30 s (60 s for Churn) with a
// dump of every goroutine, then cancels the subtest's calls; if the subtest
// is still stuck 15 s later (a driver that ignores its contexts), the run
// panics rather than hang. Harness.Slow multiplies all of these for slow
// devices. The suite asserts no timing: only these bounds.
//
// The goroutine check of the Churn subtest counts the goroutines of the
// whole test process, so it assumes no other test runs in parallel with the
// suite (Run itself never calls t.Parallel).
package sdktest
