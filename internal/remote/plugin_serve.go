package remote

import (
	"context"
	"os"
	"runtime/debug"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// Serve runs d as a plugin process's driver until the host closes it or
// goes away; the driver is closed when it returns. See sdkplugin.Serve.
func Serve(d sdk.Driver, logger hclog.Logger) {
	dieWithParent(logger)
	if os.Getenv("GOGC") == "" {
		// A plugin's memory is bounded by its sockets' windows, and its
		// live heap is small while bytes stream through it: collect less
		// often than Go's default (measured: a third less CPU per byte
		// received). GOGC in the environment still wins.
		debug.SetGCPercent(pluginGCPercent)
	}
	srv := newServer(d, logger)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginName: &servePlugin{server: srv}},
		GRPCServer: func(o []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(o, wire.ServerOptions()...)...)
		},
		Logger: logger,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.closeDriver(ctx); err != nil {
		logger.Warn("closing the driver", "error", err)
	}
}

// pluginGCPercent is a plugin process's GOGC unless the environment sets one.
const pluginGCPercent = 400

// servePlugin registers the server with go-plugin on the plugin side.
type servePlugin struct {
	plugin.NetRPCUnsupportedPlugin
	server *server
}

func (p *servePlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	wire.RegisterDriverServer(s, p.server)
	return nil
}

func (p *servePlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, sdk.Errorf(sdk.ErrUnsupported, "the plugin side only serves")
}

// newDataDir makes the private directory of the data socket: inside the
// socket directory the host made for this plugin, with a short name so that
// the socket's path stays shorter than go-plugin's own socket's (see
// socketPathRoom), or in the temp directory when there is none.
func newDataDir() (string, error) {
	if dir := os.Getenv(plugin.EnvUnixSocketDir); dir != "" {
		return os.MkdirTemp(dir, "d")
	}
	return os.MkdirTemp("", "ifsock-data-")
}
