// Command hostnet-plugin serves the hostnet driver (the host operating
// system's TCP/IP network) as a standalone plugin binary for the ifsock host.
// It is started by the host, never by hand: stdout carries the plugin
// handshake.
package main

import (
	"github.com/ifsock/ifsock/plugins/hostnet"
	"github.com/ifsock/ifsock/sdk/sdkplugin"
)

func main() {
	sdkplugin.Serve(hostnet.New())
}
