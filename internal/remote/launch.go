package remote

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// LaunchConfig says how to start a driver plugin process.
type LaunchConfig struct {
	// Cmd is the plugin command: a plugin binary, or the host binary
	// re-executed in plugin mode. Its environment is not the host's: Launch
	// gives the process PluginEnv, then cmd.Env, then its own variables.
	Cmd *exec.Cmd
	// Logger receives the host side's log and the plugin's own (go-plugin
	// reads the plugin's stderr and logs it here).
	Logger hclog.Logger
	// LogLevel is passed to the plugin.
	LogLevel hclog.Level
	// StartTimeout bounds the handshake (0: 10 s).
	StartTimeout time.Duration
	// Limits bound what the host gives the plugin (zero values: defaults).
	Limits Limits
	// SHA256, if set, is the SHA-256 the binary Cmd.Path must have: go-plugin
	// checks it (SecureConfig) right before it starts the process, and a
	// mismatch is an error matching sdk.ErrBadArgument.
	SHA256 []byte
}

// socketDirPrefix begins the name of every plugin's socket directory.
const socketDirPrefix = "ifsock-plugin-"

// envHostFD names the variable that tells a plugin which file descriptor is
// the read end of its host-watch pipe (see watchHost).
const envHostFD = "IFSOCK_HOST_FD"

// PluginEnv returns the part of the host's environment a plugin process
// gets: what a program needs to run (PATH, HOME, USER, LOGNAME, TMPDIR, TZ,
// LANG, LANGUAGE, LC_*), the Go runtime's own knobs (GOGC, GOMEMLIMIT,
// GOMAXPROCS, GODEBUG, GOTRACEBACK, GORACE, GOCOVERDIR) and the project's
// IFSOCK_* variables. Nothing else of the host's reaches a plugin: no
// secret, not even one a setting names (the host resolves KEY_env settings
// itself and sends the value with the driver's settings).
func PluginEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if pluginEnvNames[k] || strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "IFSOCK_") {
			env = append(env, kv)
		}
	}
	return env
}

var pluginEnvNames = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "TMPDIR": true,
	"TZ": true, "LANG": true, "LANGUAGE": true,
	"GOGC": true, "GOMEMLIMIT": true, "GOMAXPROCS": true, "GODEBUG": true,
	"GOTRACEBACK": true, "GORACE": true, "GOCOVERDIR": true,
	"SYSTEMROOT": true, // Windows cannot start a program without it
}

// Launch starts a plugin process and returns its driver, not yet opened.
// The process belongs to the driver: Close stops it (gracefully, then by
// force), and it is reaped if it dies by itself. If the host dies, the
// plugin reads EOF on a pipe only the host held, removes its socket
// directory and exits (see watchHost); a socket directory left by a host
// and plugin that died together is removed by the next host that starts.
func Launch(cfg LaunchConfig) (*Driver, error) {
	if cfg.Cmd == nil {
		return nil, sdk.Errorf(sdk.ErrBadArgument, "launch: no plugin command")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	base, err := socketBase()
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrBadArgument, "launch: %w", err)
	}
	if base != os.TempDir() {
		cfg.Logger.Debug("the temp directory's path is too long for Unix sockets; plugin sockets go elsewhere", "tmpdir", os.TempDir(), "dir", base)
	}
	dir, err := newSocketDir(base)
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrInternal, "launch: make a socket directory in %s: %w", base, err)
	}
	cmd := cfg.Cmd
	cmd.Env = append(append(PluginEnv(), cmd.Env...),
		wire.EnvHostPID+"="+strconv.Itoa(os.Getpid()),
		wire.EnvLogLevel+"="+cfg.LogLevel.String(),
		plugin.EnvUnixSocketDir+"="+dir.path,
	)
	watch, started, err := watchHost(cmd)
	if err != nil {
		dir.remove()
		return nil, sdk.Errorf(sdk.ErrInternal, "launch: %w", err)
	}
	var secure *plugin.SecureConfig
	if cfg.SHA256 != nil {
		secure = &plugin.SecureConfig{Checksum: cfg.SHA256, Hash: sha256.New()}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginName: &grpcPlugin{}},
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           cfg.Logger,
		StartTimeout:     cfg.StartTimeout,
		GRPCDialOptions:  wire.DialOptions(),
		SkipHostEnv:      true,
	})
	cleanup := func() {
		client.Kill()
		if watch != nil {
			_ = watch.Close() // after the process is gone: it would exit on EOF
		}
		dir.remove()
	}
	rpc, err := client.Client()
	started()
	if err != nil {
		cleanup()
		if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
			return nil, sdk.Errorf(sdk.ErrBadArgument, "plugin %s does not match its SHA-256 pin %x: if you trust this binary, update the pin", cmd.Path, cfg.SHA256)
		}
		return nil, sdk.Errorf(sdk.ErrDriverExited, "start plugin %s: %w", cmd.Path, err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		cleanup()
		return nil, sdk.Errorf(sdk.ErrDriverExited, "start plugin %s: %w", cmd.Path, err)
	}
	conn := raw.(*grpc.ClientConn)
	d := NewDriver(conn, cfg.Logger, cfg.Limits, cleanup)
	if rc := client.ReattachConfig(); rc != nil {
		d.pid = rc.Pid
	}
	return d, nil
}

// grpcPlugin is the host side of go-plugin's plugin: it only hands back the
// connection; Driver does the rest.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (grpcPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("the host does not serve drivers")
}

func (grpcPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}
