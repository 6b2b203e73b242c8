// Command delaynet-plugin serves the delaynet driver as a plugin process of
// the ifsock host: build it as DIR/delaynet-plugin and run the host with
// --plugin-dir DIR --iface x0=delaynet,delay=20ms. The host starts it;
// started by hand it explains itself and exits (stdout carries the plugin
// handshake, so nothing else is ever written there).
package main

// guide:main

import (
	"example.com/delaynet"
	"github.com/ifsock/ifsock/sdk/sdkplugin"
)

func main() { sdkplugin.Serve(delaynet.New()) }

// guide:end
