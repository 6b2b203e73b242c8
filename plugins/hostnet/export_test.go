package hostnet

// EchoServer is the plain net echo server of this package's tests, for the
// external tests (the conformance run) too.
var EchoServer = echoServer
