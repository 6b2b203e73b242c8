package remote

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

// LaunchConfig says how to start a driver plugin process.
type LaunchConfig struct {
	// Cmd is the plugin command: a plugin binary, or the host binary
	// re-executed in plugin mode. Launch adds to its environment.
	Cmd *exec.Cmd
	// Logger receives the host side's log and the plugin's own (go-plugin
	// reads the plugin's stderr and logs it here).
	Logger hclog.Logger
	// LogLevel is passed to the plugin.
	LogLevel hclog.Level
	// StartTimeout bounds the handshake (0: 10 s).
	StartTimeout time.Duration
	// Window is the per-socket receive credit (0: wire.DefaultWindow).
	Window int
}

// Launch starts a plugin process and returns its driver, not yet opened.
// The process belongs to the driver: Close stops it (gracefully, then by
// force), and it is reaped if it dies by itself. It gets SIGKILL if the host
// dies (Linux), and its socket file lives in a directory the driver removes.
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
	dir, err := os.MkdirTemp("", "ifsock-plugin-")
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrInternal, "launch: %w", err)
	}
	cmd := cfg.Cmd
	cmd.Env = append(append(os.Environ(), cmd.Env...),
		wire.EnvHostPID+"="+strconv.Itoa(os.Getpid()),
		wire.EnvLogLevel+"="+cfg.LogLevel.String(),
		plugin.EnvUnixSocketDir+"="+dir,
	)
	setParentDeath(cmd)
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{wire.PluginName: &grpcPlugin{}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           cfg.Logger,
		StartTimeout:     cfg.StartTimeout,
		GRPCDialOptions:  wire.DialOptions(),
		SkipHostEnv:      true,
	})
	cleanup := func() {
		client.Kill()
		_ = os.RemoveAll(dir)
	}
	rpc, err := client.Client()
	if err != nil {
		cleanup()
		return nil, sdk.Errorf(sdk.ErrDriverExited, "start plugin %s: %w", cmd.Path, err)
	}
	raw, err := rpc.Dispense(wire.PluginName)
	if err != nil {
		cleanup()
		return nil, sdk.Errorf(sdk.ErrDriverExited, "start plugin %s: %w", cmd.Path, err)
	}
	conn := raw.(*grpc.ClientConn)
	d := NewDriver(conn, cfg.Logger, cfg.Window, cleanup)
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
