// Package builtin lists the drivers that ship with ifsock, for hosts that
// compile them in: core.Config{Builtins: builtin.Drivers}. A host serves
// them as plugin processes by re-executing itself (core.ServeBuiltin).
package builtin

import (
	"github.com/ifsock/ifsock/plugins/esp8266"
	"github.com/ifsock/ifsock/plugins/hostnet"
	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// Drivers maps each built-in driver's name to its constructor.
var Drivers = map[string]func() sdk.Driver{
	"loopback": func() sdk.Driver { return loopback.New() },
	"hostnet":  func() sdk.Driver { return hostnet.New() },
	"esp8266":  func() sdk.Driver { return esp8266.New() },
}
