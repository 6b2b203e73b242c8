package sdktest

import (
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// TestSuiteOnFake runs the whole suite on fakeDriver, the in-memory driver
// of this package's tests: as a driver that can half-close, one that
// cannot, and one with a single listener (like an ESP8266). Every subtest
// must pass or skip on each, which checks the suite's own expectations on
// both sides of Info.CanHalfClose.
func TestSuiteOnFake(t *testing.T) {
	for _, v := range []struct {
		name      string
		halfClose bool
		listeners int
	}{
		{"CanHalfClose", true, 0},
		{"NoHalfClose", false, 0},
		{"OneListener", true, 1},
		{"OneListenerNoHalfClose", false, 1},
	} {
		t.Run(v.name, func(t *testing.T) {
			Run(t, Harness{
				New:      func(testing.TB) sdk.Driver { return newFakeDriver(v.halfClose, v.listeners) },
				SelfHost: "127.0.0.1",
			})
		})
	}
}
