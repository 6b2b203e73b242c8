// Command host is the CLI host application: it runs network interfaces
// (each served by a driver plugin process) and uses sockets over them.
//
//	host [--iface NAME=DRIVER[,KEY=VALUE...]]... [--config FILE] [--plugin-dir DIR] [--log-level LEVEL] COMMAND
//
// Commands: demo, ifaces, listen, connect, sim. Run `host help` for details.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"

	"ifsock/core"
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
                                  connection once its peer finished sending; until interrupted
  connect [--linger D] IFACE HOST PORT
  connect [--linger D] IFACE URL  stdin goes to the socket, what arrives goes to stdout. When stdin ends,
                                  the socket is half-closed and what arrives is printed until the peer
                                  closes; where the interface cannot half-close (wl0), it waits at most
                                  --linger for the peer to close, then closes. Exits 0 when the peer
                                  closed in order after all of stdin was sent, 1 when some of stdin could
                                  not be delivered or the connection broke
  sim esp8266 [--firmware 1.7|2.2] [--baud N] [--ssid S --password P] [--faults LIST] [--port-offset N]
                                  emulate an ESP8266 on a pseudo-terminal; prints the device path first

With no --iface and no --config the interfaces are lo0 (loopback) and eth0 (hostnet).
Drivers: loopback, hostnet, esp8266 (built in), or NAME-plugin executables in --plugin-dir.
`

// errUsage marks errors that deserve the usage text and exit status 2.
var errUsage = errors.New("usage")

type options struct {
	ifaces    []core.IfaceConfig
	config    string
	pluginDir string
	logLevel  string
}

type ifaceFlag struct{ list *[]core.IfaceConfig }

func (f ifaceFlag) String() string { return "" }
func (f ifaceFlag) Set(v string) error {
	ic, err := core.ParseIfaceSpec(v)
	if err != nil {
		return err
	}
	*f.list = append(*f.list, ic)
	return nil
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(ifaceFlag{&o.ifaces}, "iface", "define an interface NAME=DRIVER[,KEY=VALUE...] (repeatable)")
	fs.StringVar(&o.config, "config", "", "JSON config file with interface definitions")
	fs.StringVar(&o.pluginDir, "plugin-dir", "", "directory of external driver plugins (NAME-plugin)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level on stderr: trace, debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0
		}
		fmt.Fprintf(stderr, "host: %v\n%s", err, usage)
		return 2
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprintf(stderr, "host: no command given\n%s", usage)
		return 2
	}
	cmd, cmdArgs := rest[0], rest[1:]
	var err error
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "sim":
		err = cmdSim(cmdArgs, stdout, stderr, o.logLevel)
	case "demo", "ifaces", "listen", "connect":
		err = withHost(o, stderr, func(h *core.Host) error {
			switch cmd {
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
		err = fmt.Errorf("%w: unknown command %q (commands: demo, ifaces, listen, connect, sim)", errUsage, cmd)
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

// withHost builds the host from the options, runs f, and closes the host
// (stopping every driver process) whatever f returned.
func withHost(o options, stderr io.Writer, f func(*core.Host) error) error {
	level := hclog.LevelFromString(o.logLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("%w: --log-level %q: use trace, debug, info, warn or error", errUsage, o.logLevel)
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
		if fc.LogLevel != "" && o.logLevel == "warn" {
			if l := hclog.LevelFromString(fc.LogLevel); l != hclog.NoLevel {
				level = l
			}
		}
	}
	cfg.Interfaces = append(cfg.Interfaces, o.ifaces...)
	if len(cfg.Interfaces) == 0 {
		cfg.Interfaces = nil // the defaults
	}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "host", Level: level, Output: stderr})
	h, err := core.New(cfg)
	if err != nil {
		return err
	}
	defer h.Close()
	return f(h)
}
