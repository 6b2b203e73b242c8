package sdktest

import "time"

// cases are the subtests of Run, in the order they run.
var cases = []testCase{
	// lifecycle
	{name: "OpenClose", fn: testOpenClose},
	{name: "NotOpen", fn: testNotOpen},
	{name: "UnknownSetting", fn: testUnknownSetting},
	{name: "BadArguments", fn: testBadArguments},
	{name: "CanceledContext", fn: testCanceledContext},
	{name: "Refused", fn: testRefused},
	// data
	{name: "Echo/1B", fn: testEcho(1)},
	{name: "Echo/1KiB", fn: testEcho(1 << 10)},
	{name: "Echo/64KiB", fn: testEcho(64 << 10)},
	{name: "Echo/1MiB", fn: testEcho(1 << 20)},
	{name: "RoundTrips", fn: testRoundTrips},
	{name: "Burst", fn: testBurst},
	{name: "Stream", fn: testStream},
	{name: "PingPongInHandlers", fn: testPingPongInHandlers},
	{name: "ConcurrentSends", fn: testConcurrentSends},
	// closing and drops
	{name: "PeerClose", fn: testPeerClose},
	{name: "LocalClose", fn: testLocalClose},
	{name: "CloseInHandler", fn: testCloseInHandler},
	{name: "CloseWithSocketsOpen", fn: testCloseWithSocketsOpen},
	{name: "CloseDeliversSent", fn: testCloseDeliversSent},
	// half-close (rule 11)
	{name: "HalfClose/PeerFinishedStaysWritable", fn: testPeerFinishedStaysWritable},
	{name: "HalfClose/EchoUntilFinished", fn: testEchoUntilFinished},
	{name: "HalfClose/SendAfterCloseWrite", fn: testSendAfterCloseWrite},
	{name: "HalfClose/Unsupported", fn: testCloseWriteUnsupported},
	// sockets and listeners
	{name: "PeerAddress", fn: testPeerAddress},
	{name: "TwoListeners", fn: testTwoListeners},
	{name: "ListenerClose", fn: testListenerClose},
	{name: "ListenSamePort", fn: testListenSamePort},
	{name: "IPv6", fn: testIPv6},
	{name: "SocketLimit", fn: testSocketLimit},
	{name: "Churn", fn: testChurn, budget: 60 * time.Second},
	// concurrency and flow control
	{name: "ConcurrentSockets", fn: testConcurrentSockets},
	{name: "SlowHandler", fn: testSlowHandler},
	// peers outside the driver
	{name: "EchoServer", fn: testEchoServer},
	{name: "Dial", fn: testDial},
	{name: "HalfClose/EchoServer", fn: testHalfCloseEchoServer},
	{name: "HalfClose/FromOutside", fn: testHalfCloseFromOutside},
	{name: "HalfClose/ToOutside", fn: testHalfCloseToOutside},
}
