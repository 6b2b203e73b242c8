package core

import (
	"os"
	"sync/atomic"

	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdkplugin"
)

// EnvBuiltinDriver names the variable that puts a host binary in plugin
// mode: the host sets it when it re-executes itself to run a built-in
// driver as a separate process.
const EnvBuiltinDriver = "IFSOCK_BUILTIN_DRIVER"

// ServeBuiltin makes a host binary (or a test binary) able to serve its
// built-in drivers as plugins. Call it first thing in main (or TestMain): in
// plugin mode it serves the driver named by EnvBuiltinDriver and exits the
// process; otherwise it returns at once.
func ServeBuiltin(builtins Builtins) {
	serveBuiltinCalled.Store(true)
	sdkplugin.ServeSelected(EnvBuiltinDriver, builtins)
}

// serveBuiltinCalled records that this process called ServeBuiltin, so that
// its binary can serve its built-in drivers when re-executed.
var serveBuiltinCalled atomic.Bool

// canReexec fails when built-in drivers would run by re-executing this
// binary, but main never called ServeBuiltin: the binary re-executed would
// not serve the driver.
func canReexec(cfg Config) error {
	if cfg.InProcess || cfg.Executable != "" || serveBuiltinCalled.Load() {
		return nil
	}
	return sdk.Errorf(sdk.ErrBadArgument, "built-in drivers run as this binary re-executed in plugin mode, but main never called core.ServeBuiltin: add core.ServeBuiltin(builtin.Drivers) as the first line of main (builtin is package github.com/ifsock/ifsock/plugins/builtin; give the same drivers as Config.Builtins), or set Config.InProcess")
}

// notInPluginMode fails when this process was started in plugin mode, which
// only happens when main does not call ServeBuiltin first: without this
// check, such a host would re-execute itself in a chain (each level starting
// its drivers by running itself again).
func notInPluginMode() error {
	driver, ok := os.LookupEnv(EnvBuiltinDriver)
	if !ok {
		return nil
	}
	return sdk.Errorf(sdk.ErrBadArgument, "this process was started to serve driver %s as a plugin (%s is set), but main did not serve it: add core.ServeBuiltin(builtin.Drivers) as the first line of main (builtin is package github.com/ifsock/ifsock/plugins/builtin; give the same drivers as Config.Builtins), or TestMain for a test binary", QuoteInput(driver), EnvBuiltinDriver)
}
