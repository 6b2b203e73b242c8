package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
)

// cmdSim runs a device emulator on a pseudo-terminal: the first line of
// stdout is the device path to open; it serves until interrupted.
func cmdSim(args []string, stdout, stderr io.Writer, logLevel string) error {
	if len(args) == 0 || args[0] != "esp8266" {
		return fmt.Errorf("%w: sim esp8266 [--firmware 1.7|2.2] [--baud N] [--ssid S --password P] [--faults LIST] [--port-offset N] [--station-ip IP]", errUsage)
	}
	fs := flag.NewFlagSet("sim esp8266", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	firmware := fs.String("firmware", "2.2", "AT firmware dialect to emulate: 1.7 or 2.2")
	baud := fs.Int("baud", 115200, "UART rate; output is throttled to baud/10 bytes per second")
	ssid := fs.String("ssid", "", "the access point the module can join (empty: any join succeeds)")
	password := fs.String("password", "", "its password (or set ESP8266_SIM_PASSWORD)")
	faults := fs.String("faults", "", "faults to inject, comma-separated: busy, reset, garbage, closed-before-prompt, send-fail, dns-fail, interleave, silent-notice, reset-serving, burst-accept, sysmsg, idle-timeout, client-reset, short-read, late-send-fail, error-before-closed")
	rate := fs.Float64("fault-rate", 0.05, "probability of a random fault at each opportunity")
	portOffset := fs.Int("port-offset", 0, "AT+CIPSERVER=1,P listens on 127.0.0.1:P+offset")
	joined := fs.Bool("joined", false, "start already joined to the access point")
	seed := fs.Int64("seed", 1, "seed of the fault randomness")
	// The emulated module's links are this machine's TCP connections from
	// 127.0.0.1: that is the station address a peer sees, so it is the
	// default (the emulator package's own default is a LAN address).
	stationIP := fs.String("station-ip", "127.0.0.1", "the station IPv4 address the module reports (AT+CIFSR, Local)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: sim esp8266: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: sim esp8266: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *password == "" {
		*password = os.Getenv("ESP8266_SIM_PASSWORD")
	}
	fl, err := emulator.ParseFaults(*faults)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	level := hclog.LevelFromString(logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("%w: --log-level %q: use trace, debug, info, warn or error", errUsage, logLevel)
	}
	emu, err := emulator.New(emulator.Config{
		Firmware:   emulator.Firmware(*firmware),
		Baud:       *baud,
		SSID:       *ssid,
		Password:   *password,
		Joined:     *joined,
		Faults:     fl,
		FaultRate:  *rate,
		PortOffset: *portOffset,
		StationIP:  *stationIP,
		Seed:       *seed,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "sim", Level: level, Output: stderr}),
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	path, stopSim, err := emu.ServePTY(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, path)
	if f, ok := stdout.(*os.File); ok {
		_ = f.Sync()
	}
	fmt.Fprintf(stderr, "emulating an ESP8266 (AT %s, %d baud) on %s; open it with --iface wl0=esp8266,port=%s\n", *firmware, *baud, path, path)
	<-ctx.Done()
	return stopSim()
}
