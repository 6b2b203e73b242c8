package core

import "ifsock/sdk/sdkplugin"

// EnvBuiltinDriver names the variable that puts a host binary in plugin
// mode: the host sets it when it re-executes itself to run a built-in
// driver as a separate process.
const EnvBuiltinDriver = "IFSOCK_BUILTIN_DRIVER"

// ServeBuiltin makes a host binary (or a test binary) able to serve its
// built-in drivers as plugins. Call it first thing in main (or TestMain): in
// plugin mode it serves the driver named by EnvBuiltinDriver and exits the
// process; otherwise it returns at once.
func ServeBuiltin(builtins Builtins) { sdkplugin.ServeSelected(EnvBuiltinDriver, builtins) }
