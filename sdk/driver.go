package sdk

import (
	"context"
	"net/netip"
	"strconv"

	"github.com/hashicorp/go-hclog"
)

// Socket identifies one socket of a driver. The driver allocates it (design
// rule 1: sockets belong to the driver) and never reuses a value while it is
// open, nor after it closed within the same Open: a late event or credit for
// an old socket can never reach a new one. Zero is never a valid Socket.
type Socket uint64

func (s Socket) String() string { return "socket " + strconv.FormatUint(uint64(s), 10) }

// Driver is the contract every network interface implements, the Go form of
// Dooba's struct socket_iface. The host calls it; a driver never calls the
// host except through the Events it was given at Open.
//
// Concurrency: after Open returns, every method may be called from any
// goroutine, concurrently, and from inside Events callbacks the driver is
// running (Send from a Received, Close from a Dropped...). A method must not
// block forever: it returns when its ctx is done, with ErrTimeout or
// ErrCanceled.
//
// Lifecycle: Open once, then any calls, then Close once. Calls before Open or
// after Close fail with ErrNotOpen. Close releases every socket, stops every
// goroutine the driver started, and raises no more events once it returns.
type Driver interface {
	// Open starts the driver with its settings and says what it supports.
	// From the moment Open is called until Close returns, the driver may
	// raise events on req.Events.
	Open(ctx context.Context, req OpenRequest) (Info, error)

	// Connect opens a client socket to host:port (Dooba's cnct). The driver
	// resolves host names itself (rule 9). Errors: ErrBadArgument (empty
	// host, port outside 1-65535), ErrNoSockets, ErrRefused, ErrUnreachable,
	// ErrNameNotResolved, ErrTimeout.
	Connect(ctx context.Context, req ConnectRequest) (Socket, error)

	// Listen opens a server socket on a local port (Dooba's lstn). Port 0
	// means "pick a free port": the driver chooses one, and Local reports
	// it. Sockets it accepts are announced with Events.Accepted. Errors:
	// ErrUnsupported (no server mode, or no more listeners),
	// ErrBadArgument, ErrNoSockets, ErrAddressInUse.
	Listen(ctx context.Context, req ListenRequest) (Socket, error)

	// Send queues data for in-order delivery on s (rule 5). It returns nil
	// only when the driver has taken every byte; the driver splits data to
	// fit its device. data belongs to the caller again when Send returns.
	// Concurrent Sends on one socket never interleave: each call's bytes
	// stay together, as with net.Conn. Sending on a closed or dropped socket
	// is ErrClosed (ErrReset or ErrPeerClosed are fine while the drop is on
	// its way), on a listener ErrBadArgument, never a panic. Sending after
	// the peer Finished is allowed (rule 11) where the driver CanHalfClose;
	// after a local CloseWrite it is ErrClosed.
	//
	// Through a plugin process the host runs a socket's Sends, CloseWrite
	// and CloseSocket in the order they were called, one at a time; in
	// process the caller does. A CloseSocket while a Send of the same socket
	// is blocked (the peer is not reading) ends that Send with ErrClosed.
	Send(ctx context.Context, s Socket, data []byte) error

	// CloseWrite half-closes s (TCP's shutdown of the write side): the bytes
	// of earlier Sends are delivered, then the peer learns that s finished
	// sending; s still receives until the peer finishes too or the host
	// closes it. A driver whose medium cannot half-close (Info.CanHalfClose
	// false: an ESP8266 closes a link fully) returns ErrUnsupported and
	// leaves the socket as it was. Errors: ErrClosed (closed, dropped, or
	// already half-closed), ErrBadArgument (a listener).
	CloseWrite(ctx context.Context, s Socket) error

	// Peer returns the remote address and port of a connected socket.
	Peer(ctx context.Context, s Socket) (netip.AddrPort, error)

	// Local returns the local address and port of a socket (design rule
	// 12): for a listener the address it listens on and its port (the one
	// the driver picked when Listen was given port 0), for a connected
	// socket its own address and port. The address is the one the peer
	// sees where the driver knows it (the host's for a host network stack,
	// 127.0.0.1 or ::1 on a loopback, the module's station IP on an
	// ESP8266); a listener bound to every address of the host reports the
	// unspecified address (0.0.0.0 or ::), as package net does. A driver
	// that cannot learn a socket's local port reports port 0. Errors:
	// ErrClosed for a socket that is not open.
	Local(ctx context.Context, s Socket) (netip.AddrPort, error)

	// CloseSocket closes s locally. The bytes of Sends that returned are
	// still delivered, then the connection closes in order, as TCP's close
	// does. It
	// raises no Dropped event for s (rule 3), and no new event of s starts
	// once it returns (an event already
	// running, such as the callback that called CloseSocket, may finish).
	// Closing a listener does not close the sockets it accepted, and no new
	// Accepted naming it starts once it returns. A dropped socket is already
	// freed by the driver: the host need not close it, and closing it, or an
	// unknown or already closed socket, is ErrClosed.
	CloseSocket(ctx context.Context, s Socket) error

	// Close closes every socket (without Dropped events) and the driver. A
	// second Close returns nil.
	Close(ctx context.Context) error
}

// OpenRequest carries what the host gives a driver at Open.
type OpenRequest struct {
	// Interface is the name the host knows this driver by ("lo0", "wl0"):
	// for logs and messages only.
	Interface string
	// Settings are the driver's own key=value settings. A driver rejects a
	// key it does not know with ErrBadArgument naming the known ones.
	Settings Settings
	// Events receives the driver's events until Close returns.
	Events Events
	// Logger is where the driver logs. Never nil. A driver never writes to
	// stdout: in a plugin process stdout carries the plugin handshake.
	Logger hclog.Logger
}

// ConnectRequest is the argument of Driver.Connect.
type ConnectRequest struct {
	Host string // a host name, an IPv4 or an IPv6 literal (without brackets)
	Port int    // 1-65535
}

// ListenRequest is the argument of Driver.Listen.
type ListenRequest struct {
	Port int // 1-65535, or 0: the driver picks a free port (Local says which)
}

// Info says what a driver supports. Capabilities travel as data, because a
// type assertion cannot see through the plugin boundary.
type Info struct {
	Name    string // the driver's name ("loopback", "hostnet", "esp8266")
	Version string // the driver's own version
	// Device describes what the driver found, for humans ("ESP8266 AT
	// 1.7.4.0", "linux host network"). Optional.
	Device string
	// CanListen is true when Listen is supported at all.
	CanListen bool
	// MaxListeners is how many listening sockets may be open at once
	// (0: no limit beyond MaxSockets).
	MaxListeners int
	// MaxSockets is how many sockets (listeners included) the driver holds at
	// once. A request beyond it fails with ErrNoSockets.
	MaxSockets int
	// MaxConnections is how many connected sockets (from Connect and
	// accepted by listeners) the driver holds at once, besides its
	// listeners: 0 means no limit beyond MaxSockets. A device whose server
	// takes no connection slot says so here: an ESP8266 serves 5 links and
	// one server, so MaxSockets 6, MaxListeners 1, MaxConnections 5. A
	// Connect beyond it fails with ErrNoSockets, and a connection coming in
	// beyond it is refused without disturbing the others.
	MaxConnections int
	// MaxWrite is the largest write the device takes in one go (2048 on an
	// ESP8266). Send accepts any length and splits; this is informational.
	MaxWrite int
	// SendWindow is how many bytes of a socket's Sends the host may commit
	// ahead of the driver taking them, through a plugin process (rule 5):
	// 0 means the default (1 MiB), as TCP's send buffer lets write return
	// before the peer has the bytes. A negative value means none: a Send
	// returns once the driver took every byte, for a device that can fail
	// a write it was given (an ESP8266 whose module stops answering), so
	// that the failure reaches the Send that wrote the bytes.
	SendWindow int
	// CanHalfClose is true when the medium keeps TCP's half-close (rule
	// 11): after the peer's FIN the driver raises Events.Finished and the
	// socket stays writable until the host closes it, and CloseWrite works.
	// When false, a peer's orderly close is Dropped(ErrPeerClosed) after the
	// last data, and CloseWrite is ErrUnsupported.
	CanHalfClose bool
}

// CheckConnect validates the arguments of a connect the way every driver must
// (empty host, port out of range), so drivers answer them alike.
func CheckConnect(req ConnectRequest) error {
	if req.Host == "" {
		return Errorf(ErrBadArgument, "connect: empty host")
	}
	return checkPort("connect", req.Port)
}

// CheckListen validates the arguments of a listen the way every driver must:
// port 0 (the driver picks a free port) or 1-65535.
func CheckListen(req ListenRequest) error {
	if req.Port < 0 || req.Port > 65535 {
		return Errorf(ErrBadArgument, "listen: port %d is out of range 0-65535 (0: pick a free port)", req.Port)
	}
	return nil
}

func checkPort(op string, port int) error {
	if port < 1 || port > 65535 {
		return Errorf(ErrBadArgument, "%s: port %d is out of range 1-65535", op, port)
	}
	return nil
}
