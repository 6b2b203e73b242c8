package core

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/internal/remote"
	"github.com/ifsock/ifsock/sdk"
)

// Builtins maps a driver name to a constructor, for the drivers compiled
// into the host binary. They still run as plugin processes (the host binary
// re-executes itself in plugin mode, see ServeBuiltin) unless
// Config.InProcess is set.
type Builtins map[string]func() sdk.Driver

// Config configures a Host.
type Config struct {
	// Interfaces to define. Nil means DefaultInterfaces.
	Interfaces []IfaceConfig
	// Builtins are the drivers compiled in.
	Builtins Builtins
	// PluginDir is where external driver binaries are found: driver NAME is
	// the executable PluginDir/NAME-plugin. Built-in drivers win.
	PluginDir string
	// PluginSHA256 pins external plugins: driver name -> the SHA-256 of its
	// binary PluginDir/NAME-plugin, in hex (what sha256sum prints). A pinned
	// plugin whose binary has another sum does not run (checked at New and
	// before every start). Unpinned plugins run unchecked.
	PluginSHA256 map[string]string
	// InProcess runs built-in drivers inside this process instead of as
	// plugin processes (for tests and embedding; no crash isolation).
	InProcess bool
	// Executable is the binary re-executed for built-in drivers; empty means
	// this process's own (os.Executable).
	Executable string
	// Logger receives the host's log and the plugins' logs. Nil: no log.
	Logger hclog.Logger
	// Window is each socket's receive window in bytes over the plugin
	// boundary (0: 1 MiB).
	Window int
	// ReceiveBuffer bounds the received data the host holds for one
	// plugin, all its sockets together, in bytes (0: 32 MiB): the window
	// they share. Each data frame also counts 64 bytes, so a flood of tiny
	// frames is bounded too. A plugin that sends beyond it is stopped.
	ReceiveBuffer int
	// MaxSockets bounds the sockets the host keeps for one plugin, whatever
	// the driver declares (0: 4096; a driver declaring fewer lowers it). A
	// plugin that names more at once is stopped.
	MaxSockets int
	// RestartBackoff and MaxRestartBackoff pace the restarts of a driver
	// whose process dies (defaults 50 ms and 5 s). The first death after a
	// stable run restarts it at once; each further death or failed start
	// waits RestartBackoff, doubling up to MaxRestartBackoff. The count
	// starts over once the driver stayed up for twice MaxRestartBackoff.
	// Interface.Restarts and `host ifaces` show where it stands.
	RestartBackoff, MaxRestartBackoff time.Duration
	// CallTimeout bounds how long the calls without a context wait for a
	// driver: Socket.Peer, Local, CloseWrite and Close (their Context forms
	// take the caller's instead), a Conn's Close, and the host's own
	// clean-ups (closing a socket nobody wants, closing a driver). 0: 10 s.
	CallTimeout time.Duration
	// StartTimeout bounds a restart of a driver whose process died, and
	// how long Close waits for disconnect callbacks still running. 0: 30 s.
	// A first start is bounded by the ctx of the call that started it.
	StartTimeout time.Duration
	// AdoptTimeout bounds how long an event for a socket waits for the
	// Connect or Listen call that returns that socket (a driver may raise
	// an event before its call's reply arrives); beyond it the socket is
	// closed as nobody's. 0: 30 s.
	AdoptTimeout time.Duration
}

// DefaultInterfaces are the interfaces of a host with no configuration:
// lo0 (the in-memory loopback) and eth0 (the host's own network).
func DefaultInterfaces() []IfaceConfig {
	return []IfaceConfig{
		{Name: "lo0", Driver: "loopback"},
		{Name: "eth0", Driver: "hostnet"},
	}
}

// ErrUnknownInterface is returned for a name no interface has; the message
// lists the names there are. It matches sdk.ErrBadArgument too.
var ErrUnknownInterface error = unknownInterface{}

type unknownInterface struct{}

func (unknownInterface) Error() string {
	return "unknown interface: use a defined name, or define it with --iface NAME=DRIVER"
}
func (unknownInterface) Is(target error) bool { return target == sdk.ErrBadArgument }

// Host owns a set of interfaces and the driver processes behind them. It is
// safe for concurrent use. Close stops every driver.
type Host struct {
	cfg    Config
	logger hclog.Logger
	ifaces map[string]*Interface

	mu     sync.Mutex
	closed bool
}

// New validates cfg and defines its interfaces. No driver starts until an
// interface is first used (or Start is called).
func New(cfg Config) (*Host, error) {
	if err := notInPluginMode(); err != nil {
		return nil, err
	}
	if err := checkPins(cfg.PluginSHA256, cfg.Builtins); err != nil {
		return nil, err
	}
	if cfg.Interfaces == nil {
		cfg.Interfaces = DefaultInterfaces()
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.RestartBackoff <= 0 {
		cfg.RestartBackoff = 50 * time.Millisecond
	}
	if cfg.MaxRestartBackoff <= 0 {
		cfg.MaxRestartBackoff = 5 * time.Second
	}
	h := &Host{cfg: cfg, logger: cfg.Logger, ifaces: make(map[string]*Interface)}
	for _, ic := range cfg.Interfaces {
		ic, err := ic.resolve()
		if err != nil {
			return nil, err
		}
		if _, dup := h.ifaces[ic.Name]; dup {
			return nil, sdk.Errorf(ErrBadConfig, "interface %s is defined twice", ic.Name)
		}
		if _, err := h.launcher(ic.Driver); err != nil {
			return nil, sdk.Errorf(ErrBadConfig, "interface %s: %w", ic.Name, err)
		}
		h.ifaces[ic.Name] = newInterface(h, ic)
	}
	return h, nil
}

// Interface returns the interface called name.
func (h *Host) Interface(name string) (*Interface, error) {
	if i, ok := h.ifaces[name]; ok {
		return i, nil
	}
	return nil, sdk.Errorf(ErrUnknownInterface, "interface %q: known interfaces are %s", name, strings.Join(h.Names(), ", "))
}

// Names returns the interface names, sorted.
func (h *Host) Names() []string {
	names := make([]string, 0, len(h.ifaces))
	for n := range h.ifaces {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Interfaces returns the interfaces, sorted by name.
func (h *Host) Interfaces() []*Interface {
	var out []*Interface
	for _, n := range h.Names() {
		out = append(out, h.ifaces[n])
	}
	return out
}

// Close closes every interface: their sockets are closed without
// disconnect callbacks and their driver processes stopped. It is
// idempotent and returns once every process is gone.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, i := range h.ifaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := i.close(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startFunc starts one run of a driver: the driver, and for a plugin the
// handle to its process (the same proxy, typed; nil in process).
type startFunc func(ctx context.Context, logger hclog.Logger) (sdk.Driver, *remote.Driver, error)

// launcher returns how to start a driver: in process, as the host binary in
// plugin mode, or as an external plugin binary.
func (h *Host) launcher(driver string) (startFunc, error) {
	if err := checkDriverName(driver); err != nil {
		return nil, err
	}
	if newDriver, ok := h.cfg.Builtins[driver]; ok {
		if h.cfg.InProcess {
			return func(context.Context, hclog.Logger) (sdk.Driver, *remote.Driver, error) { return newDriver(), nil, nil }, nil
		}
		if err := canReexec(h.cfg); err != nil {
			return nil, err
		}
		return func(_ context.Context, logger hclog.Logger) (sdk.Driver, *remote.Driver, error) {
			exe := h.cfg.Executable
			if exe == "" {
				var err error
				if exe, err = os.Executable(); err != nil {
					return nil, nil, sdk.Errorf(sdk.ErrInternal, "find the host binary to run driver %s: %w", driver, err)
				}
			}
			cmd := exec.Command(exe)
			cmd.Env = []string{EnvBuiltinDriver + "=" + driver}
			return h.launch(cmd, logger, nil)
		}, nil
	}
	if h.cfg.PluginDir != "" {
		path := filepath.Join(h.cfg.PluginDir, driver+"-plugin")
		if st, err := os.Stat(path); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			pin, err := pinOf(h.cfg.PluginSHA256, driver)
			if err != nil {
				return nil, err
			}
			if _, err := checkPlugin(h.cfg.PluginDir, path, pin); err != nil {
				return nil, err
			}
			return func(_ context.Context, logger hclog.Logger) (sdk.Driver, *remote.Driver, error) {
				// Again at every start: the binary may have changed since.
				real, err := checkPlugin(h.cfg.PluginDir, path, pin)
				if err != nil {
					return nil, nil, err
				}
				return h.launch(exec.Command(real), logger, pin)
			}, nil
		}
	}
	known := make([]string, 0, len(h.cfg.Builtins))
	for n := range h.cfg.Builtins {
		known = append(known, n)
	}
	slices.Sort(known)
	where := "no plugin directory is set (--plugin-dir)"
	if h.cfg.PluginDir != "" {
		where = "no executable " + filepath.Join(h.cfg.PluginDir, driver+"-plugin")
	}
	return nil, sdk.Errorf(sdk.ErrBadArgument, "unknown driver %q: built-in drivers are %s, and %s", driver, strings.Join(known, ", "), where)
}

// launch starts cmd as a plugin process; pin, if not nil, is the SHA-256
// its binary must have (go-plugin checks it right before the start).
func (h *Host) launch(cmd *exec.Cmd, logger hclog.Logger, pin []byte) (sdk.Driver, *remote.Driver, error) {
	d, err := remote.Launch(remote.LaunchConfig{
		Cmd:      cmd,
		Logger:   logger,
		LogLevel: logLevel(h.logger),
		SHA256:   pin,
		Limits: remote.Limits{
			Window: h.cfg.Window, ConnWindow: h.cfg.ReceiveBuffer, MaxSockets: h.cfg.MaxSockets,
		},
	})
	if err != nil {
		return nil, nil, err
	}
	return d, d, nil
}

func logLevel(l hclog.Logger) hclog.Level {
	switch {
	case l.IsTrace():
		return hclog.Trace
	case l.IsDebug():
		return hclog.Debug
	case l.IsInfo():
		return hclog.Info
	case l.IsWarn():
		return hclog.Warn
	}
	return hclog.Error
}
