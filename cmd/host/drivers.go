package main

import "github.com/ifsock/ifsock/plugins/builtin"

// builtins are the drivers compiled into the host binary. They run as
// plugin processes: the binary re-executes itself in plugin mode.
var builtins = builtin.Drivers
