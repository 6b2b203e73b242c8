// Command host is the CLI host application: it runs network interfaces
// (each served by a driver plugin process) and uses sockets over them.
//
//	host [--iface NAME=DRIVER[,KEY=VALUE...]]... [--config FILE] [--plugin-dir DIR] [--log-level LEVEL] COMMAND
//
// Commands: demo, ifaces, listen, connect, conform, sim. Run `host help` for details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

func main() {
	// In plugin mode (the host re-executing itself to run a built-in
	// driver) this serves the driver and never returns.
	core.ServeBuiltin(builtins)
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `usage: host [--iface NAME=DRIVER[,KEY=VALUE...]]... [--config FILE] [--plugin-dir DIR] [--log-level LEVEL] COMMAND

commands:
  demo                            the seed's two examples over lo0: an echo server and a client that
                                  says hello; exits 0 when the echo came back intact
  ifaces                          one line per interface: name, driver, state
  listen [--echo] IFACE PORT      accept connections; print what arrives (or echo it back), and close each
                                  connection once its peer finished sending; until interrupted. PORT 0
                                  lets the interface pick a free port. Once it listens it prints
                                  "listening on IFACE port P" on stderr, P the port it got. When the
                                  listener is dropped (the module reset, the driver process died) it
                                  listens again on port P and says so on stderr; exits 1 if it cannot
                                  within 30 s
  connect [--linger D] IFACE HOST PORT
  connect [--linger D] IFACE URL  stdin goes to the socket, what arrives goes to stdout. When stdin ends,
                                  the socket is half-closed and what arrives is printed until the peer
                                  closes; where the interface cannot half-close (wl0), it waits at most
                                  --linger for the peer to close, then closes. Exits 0 when the peer
                                  closed in order after all of stdin was sent, 1 when some of stdin could
                                  not be delivered or the connection broke
  conform [--run REGEXP] [-v] [--self-host H] [--outside true|false] [--ipv6 true|false]
          [--limit KEY=VALUE]... [--slow F] IFACE
                                  run the driver conformance suite (sdktest) against IFACE's driver, each
                                  case on a fresh plugin process: one line per case with its rule, its tier
                                  (MUST or SHOULD) and PASS, FAIL or SKIP (with the reason), then a summary.
                                  Exits 0 only when every MUST case passed or skipped. --run picks cases as
                                  go test -run does; -v prints why a case failed, and the drivers' log
  sim esp8266 [--firmware 1.7|2.2] [--baud N] [--ssid S --password P] [--faults LIST] [--port-offset N]
              [--station-ip IP]
                                  emulate an ESP8266 on a pseudo-terminal; prints the device path first

With no --iface and no --config the interfaces are lo0 (loopback) and eth0 (hostnet).
Drivers: loopback, hostnet, esp8266 (built in), or NAME-plugin executables in --plugin-dir.
Pin an external plugin with --plugin-sha256 NAME=SHA256 (repeatable; plugin_sha256 in a config file).
`

// commandHelp is each command's --help: its lines of usage, with the
// global options.
func commandHelp(cmd string) (string, bool) {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "  "+cmd+" ") || line == "  "+cmd:
			in = true
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   "):
			in = false // the next command
		case !strings.HasPrefix(line, "   "):
			in = false // the end of the list
		}
		if in {
			b.WriteString(line + "\n")
		}
	}
	if b.Len() == 0 {
		return "", false
	}
	return "usage: host [--iface NAME=DRIVER[,KEY=VALUE...]]... [--config FILE] [--plugin-dir DIR] [--log-level LEVEL] " + cmd + " ...\n\n" + b.String(), true
}

// wantsHelp reports whether a command's arguments ask for its usage: -h,
// -help, --h or --help before any "--".
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--h", "--help":
			return true
		}
	}
	return false
}

// errUsage marks errors that deserve the usage text and exit status 2.
var errUsage = errors.New("usage")

type options struct {
	ifaces    []string // --iface values, parsed once the flags are
	config    string
	pluginDir string
	logLevel  string
	pins      []string // --plugin-sha256 values NAME=SHA256
	// skipCheck leaves the interfaces down until the command uses them:
	// conform checks its one interface itself, and must not hold a device
	// (a serial port) that its suite's drivers open.
	skipCheck bool
}

// ifaceFlag collects the --iface values. They are parsed after the flags,
// so that their errors are ours alone (the flag package would echo the
// whole value before them).
type ifaceFlag struct{ list *[]string }

func (f ifaceFlag) String() string { return "" }
func (f ifaceFlag) Set(v string) error {
	*f.list = append(*f.list, v)
	return nil
}

// hostArgs are the arguments run was given: `host conform` runs the host
// again with them.
var hostArgs []string

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	hostArgs = args
	var o options
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(ifaceFlag{&o.ifaces}, "iface", "define an interface NAME=DRIVER[,KEY=VALUE...] (repeatable)")
	fs.StringVar(&o.config, "config", "", "JSON config file with interface definitions")
	fs.StringVar(&o.pluginDir, "plugin-dir", "", "directory of external driver plugins (NAME-plugin)")
	fs.Var(ifaceFlag{&o.pins}, "plugin-sha256", "pin an external plugin by its binary's SHA-256: NAME=SHA256 (repeatable)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level on stderr: trace, debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		msg := err.Error()
		if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unknown flag " + core.QuoteInput(name)
		}
		fmt.Fprintf(stderr, "host: %s\n%s", msg, usage)
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintf(stderr, "host: no command given\n%s", usage)
		return 2
	}
	cmd, cmdArgs := rest[0], rest[1:]
	if cmd == "help" && len(cmdArgs) == 1 {
		cmd, cmdArgs = cmdArgs[0], []string{"--help"}
	}
	if text, ok := commandHelp(cmd); ok && wantsHelp(cmdArgs) {
		fmt.Fprint(stdout, text)
		return 0
	}
	var err error
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "sim":
		if len(o.ifaces) > 0 || o.config != "" {
			// The emulator uses no interface, but a bad definition still
			// fails the command, as it fails every other.
			err = withHost(o, stderr, func(*core.Host) error { return nil })
		}
		if err == nil {
			err = cmdSim(cmdArgs, stdout, stderr, o.logLevel)
		}
	case "demo", "ifaces", "listen", "connect", "conform":
		o.skipCheck = cmd == "conform"
		err = withHost(o, stderr, func(h *core.Host) error {
			switch cmd {
			case "conform":
				return cmdConform(h, cmdArgs, stdout, stderr)
			case "demo":
				return cmdDemo(h, cmdArgs, stdout)
			case "ifaces":
				return cmdIfaces(h, cmdArgs, stdout)
			case "listen":
				return cmdListen(h, cmdArgs, stdout, stderr)
			default:
				return cmdConnect(h, cmdArgs, stdin, stdout)
			}
		})
	default:
		err = fmt.Errorf("%w: unknown command %s (commands: demo, ifaces, listen, connect, conform, sim)", errUsage, core.QuoteInput(cmd))
	}
	if err == nil {
		return 0
	}
	msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
	fmt.Fprintf(stderr, "host: %s\n", msg)
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// withHost builds the host from the options, checks every interface's
// definition, runs f, and closes the host (stopping every driver process)
// whatever f returned.
func withHost(o options, stderr io.Writer, f func(*core.Host) error) error {
	level := hclog.LevelFromString(o.logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("%w: --log-level %s: use trace, debug, info, warn or error", errUsage, core.QuoteInput(o.logLevel))
	}
	var flagIfaces []core.IfaceConfig
	for _, spec := range o.ifaces {
		ic, err := core.ParseIfaceSpec(spec)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		flagIfaces = append(flagIfaces, ic)
	}
	cfg := core.Config{Builtins: builtins, PluginDir: o.pluginDir}
	if o.config != "" {
		fc, err := core.LoadConfigFile(o.config)
		if err != nil {
			return err
		}
		cfg.Interfaces = fc.Interfaces
		if cfg.PluginDir == "" {
			cfg.PluginDir = fc.PluginDir
		}
		for name, sum := range fc.PluginSHA256 {
			if cfg.PluginSHA256 == nil {
				cfg.PluginSHA256 = map[string]string{}
			}
			cfg.PluginSHA256[name] = sum
		}
		if fc.LogLevel != "" && o.logLevel == "warn" {
			if l := hclog.LevelFromString(fc.LogLevel); l != hclog.NoLevel {
				level = l
			}
		}
	}
	// --plugin-sha256 pins win over the config file's.
	for _, pin := range o.pins {
		name, sum, ok := strings.Cut(pin, "=")
		if !ok || name == "" {
			return fmt.Errorf("%w: --plugin-sha256 %s: want NAME=SHA256, the 64 hex digits sha256sum prints for PLUGIN_DIR/NAME-plugin", errUsage, core.QuoteInput(pin))
		}
		if cfg.PluginSHA256 == nil {
			cfg.PluginSHA256 = map[string]string{}
		}
		cfg.PluginSHA256[name] = sum
	}
	cfg.Interfaces = append(cfg.Interfaces, flagIfaces...)
	if len(cfg.Interfaces) == 0 {
		cfg.Interfaces = nil // the defaults
	}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: stderr})
	h, err := core.New(cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	if o.skipCheck {
		return f(h)
	}
	if err := checkDefinitions(h); err != nil {
		return err
	}
	return f(h)
}

// startTimeout bounds how long checkDefinitions waits for a driver.
const startTimeout = 15 * time.Second

// checkDefinitions starts every interface, so that a definition its driver
// refuses (an unknown setting, a bad value: sdk.ErrBadArgument) fails the
// command whichever interfaces it uses: a typo never passes silently. Any
// other start error (a device not plugged in) is left to the command, which
// meets it when it uses that interface, and to ifaces, which shows it.
func checkDefinitions(h *core.Host) error {
	ifaces := h.Interfaces()
	errs := make([]error, len(ifaces))
	var wg sync.WaitGroup
	for n, i := range ifaces {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
			defer cancel()
			errs[n] = i.Start(ctx)
		})
	}
	wg.Wait()
	for n, err := range errs {
		if errors.Is(err, sdk.ErrBadArgument) {
			return fmt.Errorf("interface %s: %w", ifaces[n].Name(), err)
		}
	}
	return nil
}
