package wire

import (
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Handshake is the go-plugin handshake both sides must agree on. The cookie
// only stops a user from running a plugin binary by hand; it is no security.
var Handshake = plugin.HandshakeConfig{
	// 2: the shared receive window (conn_window), the local call and
	// address, max_connections. A plugin built for 1 does not start.
	ProtocolVersion:  2,
	MagicCookieKey:   "IFSOCK_PLUGIN",
	MagicCookieValue: "a1f3c2d4-driver",
}

// PluginName is the one plugin every driver process serves.
const PluginName = "driver"

// MaxChunk is the largest data payload in one frame of the data path (see
// internal/remote). The data path is a raw Unix socket, not gRPC, so gRPC's
// throughput cliff at 32 KiB payloads does not apply; larger chunks cost
// fewer frames per byte.
const MaxChunk = 128 << 10

// MaxMessage is the gRPC message size limit set on both sides: well above
// any control message (Open's settings), well below a size that could hurt.
const MaxMessage = 1 << 20

// DefaultWindow is the receive credit of a socket, in bytes: what the
// driver may send for it before the host has consumed any.
const DefaultWindow = 1 << 20

// DefaultConnWindow is the receive credit all the sockets of one plugin
// share (HTTP/2's connection window): the host's bound on the data it holds
// for a plugin, whatever the plugin declares or sends. It is counted in cost
// units, a data frame costing its payload plus FrameCost, so that a flood of
// tiny frames is bounded as well as a few large ones.
const DefaultConnWindow = 32 << 20

// FrameCost is what a data frame costs of the shared window beyond its
// payload: about what the host allocates to hold one (an event and a
// buffer header).
const FrameCost = 64

// HTTP/2 flow-control windows; larger than gRPC's 64 KiB default so that a
// single stream can carry a window's worth of data per round trip.
const (
	streamWindow = 4 << 20
	connWindow   = 8 << 20
)

// EnvHostPID names the variable in which the host passes its process id to
// a plugin, so the plugin can tell that its host is gone.
const EnvHostPID = "IFSOCK_HOST_PID"

// ServerOptions are the gRPC options of the plugin side.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessage),
		grpc.MaxSendMsgSize(MaxMessage),
		grpc.InitialWindowSize(streamWindow),
		grpc.InitialConnWindowSize(connWindow),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
	}
}

// DialOptions are the gRPC options of the host side.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessage), grpc.MaxCallSendMsgSize(MaxMessage)),
		grpc.WithInitialWindowSize(streamWindow),
		grpc.WithInitialConnWindowSize(connWindow),
	}
}

// EnvLogLevel names the variable through which the host passes its log level
// to a plugin process ("trace", "debug", "info", "warn", "error").
const EnvLogLevel = "IFSOCK_LOG_LEVEL"
