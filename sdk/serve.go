package sdk

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"ifsock/internal/wire"
)

// ServeOption adjusts Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	logger hclog.Logger
}

// WithLogger makes Serve log through l instead of the default: JSON on
// stderr, which the host reads and writes into its own log.
func WithLogger(l hclog.Logger) ServeOption { return func(c *serveConfig) { c.logger = l } }

// EnvLogLevel names the variable through which the host passes its log level
// to a plugin process ("trace", "debug", "info", "warn", "error").
const EnvLogLevel = "IFSOCK_LOG_LEVEL"

// Serve runs d as a plugin: call it from a plugin's main and nothing else.
// It speaks go-plugin's handshake on stdout, serves the driver over gRPC,
// and returns when the host closes the driver or goes away (the driver is
// closed by then). It never writes anything else to stdout.
//
// A plugin process never outlives its host: on Linux it asks the kernel for
// SIGKILL when its parent dies, and exits at once if the host it was started
// by is already gone.
//
// Started by hand rather than by a host, Serve explains itself on stderr
// and exits with status 1.
func Serve(d Driver, opts ...ServeOption) {
	var cfg serveConfig
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name:       "driver",
			Output:     os.Stderr,
			JSONFormat: true,
			Level:      hclog.LevelFromString(os.Getenv(EnvLogLevel)),
		})
	}
	dieWithParent(cfg.logger)
	srv := newServer(d, cfg.logger)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginName: &grpcPlugin{server: srv}},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(o, wire.ServerOptions()...)...)
		},
		Logger: cfg.logger,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.closeDriver(ctx); err != nil {
		cfg.logger.Warn("closing the driver", "error", err)
	}
}

// grpcPlugin registers the server with go-plugin. The host side has its own
// plugin type; this one only serves.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server *server
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	wire.RegisterDriverServer(s, p.server)
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, Errorf(ErrUnsupported, "the sdk serves drivers; the host side lives in the core")
}

// ServeSelected lets one binary carry several drivers and run each as a
// plugin process: when the environment variable env is set, it serves the
// driver of drivers that env names and exits the process; otherwise it
// returns at once. A host binary (core.ServeBuiltin) and a test binary
// (sdktest.ServeIfChild) re-execute themselves with env set to run a
// driver. An unknown name is reported on stderr, with exit status 1.
func ServeSelected(env string, drivers map[string]func() Driver) {
	name, ok := os.LookupEnv(env)
	if !ok {
		return
	}
	newDriver, ok := drivers[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "plugin mode (%s=%s): this binary has no driver %q\n", env, name, name)
		os.Exit(1)
	}
	Serve(newDriver())
	os.Exit(0)
}
