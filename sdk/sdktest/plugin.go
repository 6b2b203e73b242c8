package sdktest

// Running a driver as a real plugin process in tests, with no build step:
// the test binary re-executes itself as the plugin (the helper-process
// pattern of go-plugin's own tests).
//
//	func TestMain(m *testing.M) {
//		sdktest.ServeIfChild(map[string]func() sdk.Driver{"mydriver": func() sdk.Driver { return mydriver.New() }})
//		os.Exit(m.Run())
//	}
//
// and then sdktest.Launch(t, "mydriver") returns an sdk.Driver whose every
// call crosses gRPC to a separate process: give it to Harness.New to run
// the suite over RPC.

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/internal/remote"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdkplugin"
)

// env names the variable that puts a test binary in plugin mode.
const pluginEnv = "IFSOCK_SDKTEST_PLUGIN"

// ServeIfChild serves the driver named by the environment and exits when
// this test binary was started as a plugin; otherwise it returns at once.
// Call it first in TestMain.
func ServeIfChild(drivers map[string]func() sdk.Driver) { sdkplugin.ServeSelected(pluginEnv, drivers) }

// Launch starts this test binary as the plugin serving driver name and
// returns its (unopened) driver: the host side of the real transport. The
// process is stopped when the test ends.
func Launch(t testing.TB, name string) sdk.Driver {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = []string{pluginEnv + "=" + name}
	level := hclog.Warn
	if testing.Verbose() {
		level = hclog.Debug
	}
	d, err := remote.Launch(remote.LaunchConfig{
		Cmd:      cmd,
		Logger:   hclog.New(&hclog.LoggerOptions{Name: name, Level: level, Output: testLog{t}}),
		LogLevel: level,
	})
	if err != nil {
		t.Fatalf("launch plugin %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Close(ctx)
	})
	return d
}

// testLog sends the plugin's log to the test log.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
