package loopback_test

import (
	"os"
	"testing"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdktest"
)

// TestMain lets this test binary serve the driver as a real plugin process
// (sdktest.Launch re-executes it).
func TestMain(m *testing.M) {
	sdktest.ServeIfChild(map[string]func() sdk.Driver{"loopback": func() sdk.Driver { return loopback.New() }})
	os.Exit(m.Run())
}

func harness(newDriver func(testing.TB) sdk.Driver) sdktest.Harness {
	return sdktest.Harness{
		New:           newDriver,
		LimitSettings: sdk.Settings{loopback.SettingMaxSockets: "6"},
		SelfHost:      "127.0.0.1",
		IPv6:          true,
	}
}

// TestConformance runs the driver conformance suite in process.
func TestConformance(t *testing.T) {
	sdktest.Run(t, harness(func(testing.TB) sdk.Driver { return loopback.New() }))
}

// TestConformancePlugin runs the suite through a real plugin process: every
// call and event crosses the gRPC transport.
func TestConformancePlugin(t *testing.T) {
	sdktest.Run(t, harness(func(t testing.TB) sdk.Driver { return sdktest.Launch(t, "loopback") }))
}
