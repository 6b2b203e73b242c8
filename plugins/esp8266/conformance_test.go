package esp8266

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdktest"
)

// TestMain lets this test binary serve the driver as a real plugin process
// (sdktest.Launch re-executes it).
func TestMain(m *testing.M) {
	sdktest.ServeIfChild(map[string]func() sdk.Driver{"esp8266": func() sdk.Driver { return New() }})
	os.Exit(m.Run())
}

// TestConformancePlugin runs the sdk conformance suite against the driver
// in a real plugin process, on the emulator's pseudo-terminal opened with
// go.bug.st/serial at a high baud rate, once per firmware dialect. One
// emulated module serves each dialect's run, as one board would: every
// subtest opens the driver on it again.
func TestConformancePlugin(t *testing.T) {
	runConformance(t, firmwares, func(t testing.TB) sdk.Driver { return sdktest.Launch(t, "esp8266") })
}

// TestConformance runs the same suite with the driver in process, for
// debugging with the driver's own stack: set ESP8266_CONFORMANCE=all.
func TestConformance(t *testing.T) {
	if os.Getenv("ESP8266_CONFORMANCE") != "all" {
		t.Skip("the plugin run covers both dialects; set ESP8266_CONFORMANCE=all to run the suite in process too")
	}
	runConformance(t, firmwares, func(testing.TB) sdk.Driver { return New() })
}

func runConformance(t *testing.T, fws []emulator.Firmware, newDriver func(testing.TB) sdk.Driver) {
	if testing.Short() {
		t.Skip("the conformance suite over the emulator takes a while")
	}
	for _, fw := range fws {
		t.Run(string(fw), func(t *testing.T) {
			// The module's station IP is the address its links really
			// use on this host, so that the suite can compare one end's
			// Local with the other end's Peer (rule 12).
			e := newEmulator(t, emulator.Config{Firmware: fw, Baud: conformanceBaud, Latency: 500 * time.Microsecond, Logger: hclog.NewNullLogger(), StationIP: "127.0.0.1"})
			path := servePTY(t, e)
			settings := sdk.Settings{"port": path, "baud": strconv.Itoa(conformanceBaud), "timeout": "5s"}
			sdktest.Run(t, sdktest.Harness{
				New:      newDriver,
				Settings: settings,
				SelfHost: "127.0.0.1",
				// Port 0: every listener of the suite gets the port the
				// driver picks (design rule 12).
				FreePort: func(testing.TB) int { return 0 },
				EchoServer: func(t testing.TB) (string, int) {
					return "127.0.0.1", echoServer(t)
				},
				Dial: func(t testing.TB, port int) (net.Conn, error) {
					return net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				},
				Slow: 3,
			})
		})
	}
}

// conformanceBaud is the UART rate of the conformance run (the highest the
// baud setting takes): the suite's 1 MiB transfers and its slow-handler
// test, which pushes data until the host TCP buffers behind the emulator
// are full (about 4 MiB), cross the UART.
const conformanceBaud = 4608000
