package main

import (
	"ifsock/core"
	"ifsock/plugins/hostnet"
	"ifsock/plugins/loopback"
	"ifsock/sdk"
)

// builtins are the drivers compiled into the host binary. They run as
// plugin processes: the binary re-executes itself in plugin mode.
var builtins = core.Builtins{
	"loopback": func() sdk.Driver { return loopback.New() },
	"hostnet":  func() sdk.Driver { return hostnet.New() },
}
