package sdktest

import "time"

// cases are the subtests of Run, in the order they run.
var cases = []testCase{
	// lifecycle
	{name: "OpenClose", rule: "lifecycle", tier: Must, checks: "Open reports Info, Close is idempotent", fn: testOpenClose},
	{name: "NotOpen", rule: "rule 7", tier: Must, checks: "calls before Open and after Close fail with ErrNotOpen", fn: testNotOpen},
	{name: "UnknownSetting", rule: "rule 7", tier: Must, checks: "an unknown setting is ErrBadArgument naming it", fn: testUnknownSetting},
	{name: "BadArguments", rule: "rule 7", tier: Must, checks: "bad hosts, ports and sockets are ErrBadArgument or ErrClosed, never a hang", fn: testBadArguments},
	{name: "CanceledContext", rule: "rule 7", tier: Must, checks: "a canceled context ends a call with ErrCanceled", fn: testCanceledContext},
	{name: "Refused", rule: "rule 7", tier: Must, checks: "connecting to a closed port is ErrRefused", fn: testRefused},
	// data
	{name: "Echo/1B", rule: "rule 2", tier: Must, checks: "1 byte crosses and comes back intact", fn: testEcho(1)},
	{name: "Echo/1KiB", rule: "rule 2", tier: Must, checks: "1 KiB crosses and comes back intact", fn: testEcho(1 << 10)},
	{name: "Echo/64KiB", rule: "rule 2", tier: Must, checks: "64 KiB cross and come back intact", fn: testEcho(64 << 10)},
	{name: "Echo/1MiB", rule: "rule 2", tier: Must, checks: "1 MiB crosses and comes back intact", fn: testEcho(1 << 20)},
	{name: "RoundTrips", rule: "rule 2", tier: Must, checks: "many small round trips, in order", fn: testRoundTrips},
	{name: "Burst", rule: "rule 2", tier: Must, checks: "many Sends back to back arrive in order", fn: testBurst},
	{name: "Stream", rule: "rule 2", tier: Must, checks: "a long stream arrives byte-exact", fn: testStream},
	{name: "PingPongInHandlers", rule: "rule 5", tier: Must, checks: "Send from inside a Received callback", fn: testPingPongInHandlers},
	{name: "ConcurrentSends", rule: "rule 5", tier: Must, checks: "Sends from many goroutines never interleave", fn: testConcurrentSends},
	// closing and drops
	{name: "PeerClose", rule: "rule 3", tier: Must, checks: "a peer's close gives exactly one Dropped after the data", fn: testPeerClose},
	{name: "LocalClose", rule: "rule 3", tier: Must, checks: "a local close fires no Dropped", fn: testLocalClose},
	{name: "CloseInHandler", rule: "rule 3", tier: Must, checks: "CloseSocket from inside a callback", fn: testCloseInHandler},
	{name: "CloseWithSocketsOpen", rule: "lifecycle", tier: Must, checks: "Close with sockets open ends them without a hang", fn: testCloseWithSocketsOpen},
	{name: "CloseDeliversSent", rule: "rule 5", tier: Must, checks: "bytes sent before a close reach the peer", fn: testCloseDeliversSent},
	// half-close (rule 11)
	{name: "HalfClose/PeerFinishedStaysWritable", rule: "rule 11", tier: Must, checks: "after the peer's FIN the socket stays writable", fn: testPeerFinishedStaysWritable},
	{name: "HalfClose/EchoUntilFinished", rule: "rule 11", tier: Must, checks: "everything sent before a FIN arrives, then Finished", fn: testEchoUntilFinished},
	{name: "HalfClose/SendAfterCloseWrite", rule: "rule 11", tier: Must, checks: "Send after CloseWrite fails cleanly", fn: testSendAfterCloseWrite},
	{name: "HalfClose/Unsupported", rule: "rule 11", tier: Must, checks: "a driver that cannot half-close says ErrUnsupported", fn: testCloseWriteUnsupported},
	// sockets and listeners
	{name: "PeerAddress", rule: "rule 9", tier: Must, checks: "Peer gives both ends' real addresses", fn: testPeerAddress},
	{name: "ListenPortZero", rule: "rule 12", tier: Must, checks: "Listen on port 0 gets a free port, reported by Local and reachable", fn: testListenPortZero},
	{name: "LocalAddress", rule: "rule 12", tier: Must, checks: "Local of every socket is IP and port, matching the other end's Peer", fn: testLocalAddress},
	{name: "TwoListeners", rule: "rule 4", tier: Should, checks: "two listeners, each with its own accepts", fn: testTwoListeners},
	{name: "ListenerClose", rule: "rule 4", tier: Must, checks: "accepted sockets inherit the listener's handlers and outlive its close", fn: testListenerClose},
	{name: "ListenSamePort", rule: "rule 7", tier: Should, checks: "listening twice on a port is ErrAddressInUse", fn: testListenSamePort},
	{name: "IPv6", rule: "rule 9", tier: Should, checks: "connect and listen over ::1", fn: testIPv6},
	{name: "SocketLimit", rule: "rule 1", tier: Must, checks: "beyond Info.MaxSockets: ErrNoSockets, never a hang", fn: testSocketLimit},
	{name: "Churn", rule: "rule 1", tier: Should, checks: "thousands of connect/close cycles leak no socket", fn: testChurn, budget: 60 * time.Second},
	// concurrency and flow control
	{name: "ConcurrentSockets", rule: "rule 2", tier: Must, checks: "sockets in parallel do not wait for each other", fn: testConcurrentSockets},
	{name: "SlowHandler", rule: "rule 6", tier: Must, checks: "a slow handler holds back its own socket alone", fn: testSlowHandler},
	// peers outside the driver
	{name: "EchoServer", rule: "rule 9", tier: Must, checks: "a connection to a server outside the driver", fn: testEchoServer},
	{name: "Dial", rule: "rule 9", tier: Must, checks: "a connection dialled from outside to a listener", fn: testDial},
	{name: "HalfClose/EchoServer", rule: "rule 11", tier: Must, checks: "half-close towards an outside server", fn: testHalfCloseEchoServer},
	{name: "HalfClose/FromOutside", rule: "rule 11", tier: Must, checks: "an outside peer's FIN loses nothing", fn: testHalfCloseFromOutside},
	{name: "HalfClose/ToOutside", rule: "rule 11", tier: Must, checks: "CloseWrite reaches an outside peer as EOF", fn: testHalfCloseToOutside},
}
