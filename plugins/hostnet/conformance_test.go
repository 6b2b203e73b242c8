package hostnet_test

import (
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/ifsock/ifsock/plugins/hostnet"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdktest"
)

// TestMain lets this test binary serve the driver as a real plugin process
// (sdktest.Launch re-executes it).
func TestMain(m *testing.M) {
	sdktest.ServeIfChild(map[string]func() sdk.Driver{"hostnet": func() sdk.Driver { return hostnet.New() }})
	os.Exit(m.Run())
}

// TestConformance runs the contract's conformance suite on the driver in
// process, with peers outside the driver on loopback: once over IPv4 with
// the default settings (listeners on 127.0.0.1, so the IPv6 subtest does not
// apply), and once entirely over IPv6 with bind=::1.
func TestConformance(t *testing.T) {
	runConformance(t, func(testing.TB) sdk.Driver { return hostnet.New() })
}

// TestConformancePlugin runs the same suite through a real plugin process:
// every call and event crosses the gRPC transport.
func TestConformancePlugin(t *testing.T) {
	runConformance(t, func(t testing.TB) sdk.Driver { return sdktest.Launch(t, "hostnet") })
}

func runConformance(t *testing.T, newDriver func(testing.TB) sdk.Driver) {
	for _, c := range []struct {
		name, host string
		settings   sdk.Settings
		ipv6       bool
	}{
		{"IPv4", "127.0.0.1", nil, false},
		{"IPv6", "::1", sdk.Settings{"bind": "::1"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			limits := sdk.Settings{"max_sockets": "4"}
			for k, v := range c.settings {
				limits[k] = v
			}
			sdktest.Run(t, sdktest.Harness{
				New:           newDriver,
				Settings:      c.settings,
				LimitSettings: limits,
				SelfHost:      c.host,
				FreePort:      func(t testing.TB) int { return freePort(t, c.host) },
				EchoServer: func(t testing.TB) (string, int) {
					return c.host, hostnet.EchoServer(t, "tcp", net.JoinHostPort(c.host, "0"))
				},
				Dial: func(t testing.TB, port int) (net.Conn, error) {
					return net.Dial("tcp", net.JoinHostPort(c.host, strconv.Itoa(port)))
				},
				IPv6: c.ipv6,
			})
		})
	}
}

// freePort returns a TCP port that was free on host a moment ago.
func freePort(t testing.TB, host string) int {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
