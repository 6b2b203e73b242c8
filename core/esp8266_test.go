package core_test

import (
	"context"
	"testing"

	"golang.org/x/net/nettest"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
)

// startSim runs the ESP8266 emulator on a pseudo-terminal for the test and
// returns the device path.
func startSim(t *testing.T, fw emulator.Firmware, baud int) string {
	t.Helper()
	emu, err := emulator.New(emulator.Config{Firmware: fw, Baud: baud, Joined: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	path, stop, err := emu.ServePTY(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = stop() })
	return path
}

// TestNetConnESP8266 runs x/net's net.Conn conformance over wl0: the esp8266
// driver in a plugin process, on the emulator's pseudo-terminal, whose links
// are real TCP sockets on 127.0.0.1.
func TestNetConnESP8266(t *testing.T) {
	for _, fw := range []emulator.Firmware{emulator.Firmware17, emulator.Firmware22} {
		t.Run(string(fw), func(t *testing.T) {
			path := startSim(t, fw, 4608000)
			h := newHost(t, core.IfaceConfig{Name: "wl0", Driver: "esp8266",
				Settings: map[string]string{"port": path, "baud": "4608000"}})
			nettest.TestConn(t, makePipe(t, iface(t, h, "wl0"), "127.0.0.1"))
		})
	}
}
