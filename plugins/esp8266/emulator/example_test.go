package emulator_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
)

// Serve runs the firmware over any byte stream; here one end of net.Pipe
// plays the serial line and the other end plays the driver.
func ExampleEmulator_Serve() {
	emu, err := emulator.New(emulator.Config{Firmware: emulator.Firmware17, Baud: 4_000_000})
	if err != nil {
		panic(err)
	}
	driver, serial := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- emu.Serve(ctx, serial) }()

	read := func(n int) string {
		b := make([]byte, n)
		if _, err := io.ReadFull(driver, b); err != nil {
			panic(err)
		}
		return string(b)
	}
	fmt.Printf("%q\n", read(len("\r\nready\r\n")))
	driver.Write([]byte("AT\r\n"))
	fmt.Printf("%q\n", read(len("AT\r\r\n\r\nOK\r\n")))

	cancel()
	fmt.Println(<-done)
	// Output:
	// "\r\nready\r\n"
	// "AT\r\r\n\r\nOK\r\n"
	// context canceled
}

func ExampleParseFaults() {
	faults, err := emulator.ParseFaults("busy, send-fail")
	fmt.Println(faults, err)
	_, err = emulator.ParseFaults("flaky")
	fmt.Println(err)
	// Output:
	// [busy send-fail] <nil>
	// emulator: unknown fault "flaky": valid faults are burst-accept, busy, client-reset, closed-before-prompt, dns-fail, error-before-closed, garbage, idle-timeout, interleave, late-send-fail, reset, reset-serving, send-fail, short-read, silent-notice, sysmsg
}
