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

	"ifsock/internal/remote"
	"ifsock/sdk"
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
	// RestartBackoff is the first wait before a dead driver is started
	// again; it doubles up to MaxRestartBackoff (defaults 50 ms and 5 s).
	RestartBackoff, MaxRestartBackoff time.Duration
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
	if newDriver, ok := h.cfg.Builtins[driver]; ok {
		if h.cfg.InProcess {
			return func(context.Context, hclog.Logger) (sdk.Driver, *remote.Driver, error) { return newDriver(), nil, nil }, nil
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
			return h.launch(cmd, logger)
		}, nil
	}
	if h.cfg.PluginDir != "" {
		path := filepath.Join(h.cfg.PluginDir, driver+"-plugin")
		if st, err := os.Stat(path); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return func(_ context.Context, logger hclog.Logger) (sdk.Driver, *remote.Driver, error) {
				return h.launch(exec.Command(path), logger)
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

func (h *Host) launch(cmd *exec.Cmd, logger hclog.Logger) (sdk.Driver, *remote.Driver, error) {
	d, err := remote.Launch(remote.LaunchConfig{
		Cmd:      cmd,
		Logger:   logger,
		LogLevel: logLevel(h.logger),
		Window:   h.cfg.Window,
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
