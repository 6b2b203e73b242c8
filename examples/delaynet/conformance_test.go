package delaynet_test

import (
	"io"
	"net"
	"os"
	"strconv"
	"testing"

	"example.com/delaynet"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdktest"
)

// guide:testmain

// TestMain lets this test binary serve the driver as a real plugin process:
// sdktest.Launch re-executes it, and ServeIfChild then serves the driver
// instead of running the tests.
func TestMain(m *testing.M) {
	sdktest.ServeIfChild(map[string]func() sdk.Driver{
		delaynet.Name: func() sdk.Driver { return delaynet.New() },
	})
	os.Exit(m.Run())
}

// guide:end

// guide:conformance

// TestConformance runs the contract's conformance suite on the driver in
// this process, with a 2 ms delay so that every chunk really waits in the
// link.
func TestConformance(t *testing.T) {
	sdktest.Run(t, harness(func(testing.TB) sdk.Driver { return delaynet.New() }))
}

// TestConformancePlugin runs the same suite through a real plugin process:
// every call and event crosses the plugin boundary.
func TestConformancePlugin(t *testing.T) {
	sdktest.Run(t, harness(func(t testing.TB) sdk.Driver { return sdktest.Launch(t, delaynet.Name) }))
}

// harness tells the suite how to make the driver and reach it: its Connect
// reaches its own listeners on 127.0.0.1, a server outside the driver
// (EchoServer), and peers outside dial into its listeners (Dial), so every
// case runs.
func harness(newDriver func(testing.TB) sdk.Driver) sdktest.Harness {
	settings := sdk.Settings{"delay": "2ms"}
	return sdktest.Harness{
		New:           newDriver,
		Settings:      settings,
		LimitSettings: sdk.Settings{"delay": "2ms", "max_sockets": "4"},
		SelfHost:      "127.0.0.1",
		FreePort:      freePort,
		EchoServer:    echoServer,
		Dial: func(t testing.TB, port int) (net.Conn, error) {
			return net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		},
	}
}

// guide:end

// TestConformanceIPv6 runs the suite in process with the driver's
// listeners on ::1, which also runs the IPv6 case.
func TestConformanceIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	sdktest.Run(t, sdktest.Harness{
		New:           func(testing.TB) sdk.Driver { return delaynet.New() },
		Settings:      sdk.Settings{"bind": "::1"},
		LimitSettings: sdk.Settings{"bind": "::1", "max_sockets": "4"},
		SelfHost:      "::1",
		IPv6:          true,
	})
}

// echoServer serves an echo on 127.0.0.1 until the test ends: each
// connection's bytes go back until it ends, then it is closed.
func echoServer(t testing.TB) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
}

// freePort returns a port that was free on 127.0.0.1 a moment ago.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
