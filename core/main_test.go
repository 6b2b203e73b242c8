package core_test

import (
	"os"
	"testing"

	"ifsock/core"
	"ifsock/plugins/hostnet"
	"ifsock/sdk"
)

var builtins = core.Builtins{
	"hostnet": func() sdk.Driver { return hostnet.New() },
}

// TestMain lets the test binary serve as the built-in driver plugins: the
// core re-executes it in plugin mode, as the host binary would be.
func TestMain(m *testing.M) {
	core.ServeBuiltin(builtins)
	os.Exit(m.Run())
}
