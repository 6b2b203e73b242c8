// Package builtin lists the drivers that ship with ifsock, for hosts that
// compile them in: core.Config{Builtins: builtin.Drivers}. A host serves
// them as plugin processes by re-executing itself (core.ServeBuiltin).
package builtin

import (
	"ifsock/plugins/hostnet"
	"ifsock/plugins/loopback"
	"ifsock/sdk"
)

// Drivers maps each built-in driver's name to its constructor.
var Drivers = map[string]func() sdk.Driver{
	"loopback": func() sdk.Driver { return loopback.New() },
	"hostnet":  func() sdk.Driver { return hostnet.New() },
}
