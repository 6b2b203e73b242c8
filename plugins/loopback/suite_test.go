package loopback_test

import (
	"testing"

	"ifsock/plugins/loopback"
	"ifsock/sdk"
	"ifsock/sdk/sdktest"
)

// TestConformance runs the driver conformance suite in process.
func TestConformance(t *testing.T) {
	sdktest.Run(t, sdktest.Harness{
		New:           func(testing.TB) sdk.Driver { return loopback.New() },
		LimitSettings: sdk.Settings{loopback.SettingMaxSockets: "6"},
		SelfHost:      "127.0.0.1",
		IPv6:          true,
	})
}
