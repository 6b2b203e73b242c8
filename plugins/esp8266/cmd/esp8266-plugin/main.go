// Command esp8266-plugin serves the esp8266 driver (an ESP8266 module running
// Espressif's AT firmware on a serial port) as a standalone plugin binary
// for the ifsock host. It is started by the host, never by hand: stdout
// carries the plugin handshake.
package main

import (
	"github.com/ifsock/ifsock/plugins/esp8266"
	"github.com/ifsock/ifsock/sdk/sdkplugin"
)

func main() {
	sdkplugin.Serve(esp8266.New())
}
