package esp8266

import (
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"ifsock/plugins/esp8266/emulator"
	"ifsock/sdk"
	"ifsock/sdk/sdktest"
)

// TestConformance runs the sdk conformance suite against the driver on the
// emulator's pseudo-terminal, opened with go.bug.st/serial at a high baud
// rate: firmware 2.2, and 1.7 too with ESP8266_CONFORMANCE=all. One
// emulated module serves the whole run, as one board would: every subtest
// opens the driver on it again.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite over the emulator takes a while")
	}
	for _, fw := range firmwares {
		t.Run(string(fw), func(t *testing.T) {
			if fw != emulator.Firmware22 && os.Getenv("ESP8266_CONFORMANCE") != "all" {
				// About 40 s a dialect, most of it the slow-handler subtest
				// filling the emulator's host TCP buffers; 1.x is covered by
				// the other emulator tests.
				t.Skip("set ESP8266_CONFORMANCE=all to run the suite over firmware 1.7 too")
			}
			e := newEmulator(t, emulator.Config{Firmware: fw, Baud: conformanceBaud, Latency: 500 * time.Microsecond, Logger: hclog.NewNullLogger()})
			path := servePTY(t, e)
			settings := sdk.Settings{"port": path, "baud": strconv.Itoa(conformanceBaud), "timeout": "5s"}
			sdktest.Run(t, sdktest.Harness{
				New:      func(testing.TB) sdk.Driver { return New() },
				Settings: settings,
				SelfHost: "127.0.0.1",
				FreePort: func(t testing.TB) int { return freePort(t, 0) },
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
