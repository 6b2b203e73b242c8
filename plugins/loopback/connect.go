package loopback

import (
	"context"
	"net/netip"
	"strings"

	"github.com/ifsock/ifsock/sdk"
)

// The ephemeral port range of client sockets (IANA's dynamic ports).
const (
	firstEphemeral = 49152
	lastEphemeral  = 65535
)

var (
	loopback4 = netip.MustParseAddr("127.0.0.1")
	loopback6 = netip.MustParseAddr("::1")
)

// Listen opens a listener on a port of the driver's own address space;
// Connect reaches it. Port 0 picks a free port of the ephemeral range
// (Local says which). Errors: ErrBadArgument, ErrAddressInUse,
// ErrNoSockets.
func (d *Driver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	if err := d.precheck("listen", ctx, sdk.CheckListen(req)); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != stateOpen {
		return 0, sdk.Errorf(sdk.ErrNotOpen, "loopback: listen")
	}
	if d.listeners[req.Port] != nil {
		return 0, sdk.Errorf(sdk.ErrAddressInUse, "listen: port %d already has a listener", req.Port)
	}
	if len(d.socks) >= d.cfg.maxSockets {
		return 0, d.noSockets("listen", 1)
	}
	port := req.Port
	if port == 0 {
		// A free port of the ephemeral range, as an OS gives one.
		var ok bool
		if port, ok = d.ephemeralPort(); !ok {
			return 0, sdk.Errorf(sdk.ErrAddressInUse, "listen: every port of %d-%d is in use", firstEphemeral, lastEphemeral)
		}
	}
	l := d.newSocket()
	l.listener = true
	l.port = port
	l.announced = true
	l.sink = hostSink{d.events}
	d.socks[l.id] = l
	d.listeners[l.port] = l
	d.start(l)
	return l.id, nil
}

// Connect opens a client socket to a listener of this driver. host must be
// 127.0.0.1, localhost or ::1. A connection takes two sockets of the limit:
// the client and the socket its listener accepts, which is announced with
// Events.Accepted. Errors: ErrBadArgument, ErrUnreachable (another host),
// ErrRefused (no listener on the port, or the refuse setting),
// ErrNoSockets.
func (d *Driver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	if err := d.precheck("connect", ctx, sdk.CheckConnect(req)); err != nil {
		return 0, err
	}
	addr, err := resolve(req.Host)
	if err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != stateOpen {
		return 0, sdk.Errorf(sdk.ErrNotOpen, "loopback: connect")
	}
	if d.cfg.refuse {
		return 0, sdk.Errorf(sdk.ErrRefused, "connect %s:%d: refused by the refuse setting", req.Host, req.Port)
	}
	l := d.listeners[req.Port]
	if l == nil {
		return 0, sdk.Errorf(sdk.ErrRefused, "connect %s:%d: nothing listens on port %d", req.Host, req.Port, req.Port)
	}
	if len(d.socks)+2 > d.cfg.maxSockets {
		return 0, d.noSockets("connect", 2)
	}
	port, ok := d.ephemeralPort()
	if !ok {
		return 0, sdk.Errorf(sdk.ErrNoSockets, "connect: every ephemeral port is in use")
	}
	c := d.newSocket()
	a := d.newSocket()
	c.local = netip.AddrPortFrom(addr, uint16(port))
	c.remote = netip.AddrPortFrom(addr, uint16(req.Port))
	a.local, a.remote = c.remote, c.local
	c.peer, a.peer = a, c
	a.from = l
	c.announced = true
	c.sink = hostSink{d.events}
	a.sink = hostSink{d.events}
	d.socks[c.id] = c
	d.socks[a.id] = a
	d.ephemeral[port] = true
	d.start(a)
	d.start(c)
	return c.id, nil
}

// precheck answers a call made before Open or after Close, with bad
// arguments (argErr) or with a ctx already done.
func (d *Driver) precheck(op string, ctx context.Context, argErr error) error {
	d.mu.Lock()
	st := d.state
	d.mu.Unlock()
	if st != stateOpen {
		return sdk.Errorf(sdk.ErrNotOpen, "loopback: %s", op)
	}
	if argErr != nil {
		return argErr
	}
	if err := ctx.Err(); err != nil {
		return ctxError(op, err)
	}
	return nil
}

// noSockets is the error of a call that needs more sockets than are left;
// d.mu must be held.
func (d *Driver) noSockets(op string, need int) error {
	return sdk.Errorf(sdk.ErrNoSockets, "%s: needs %d socket(s), %d of %d in use (setting %s)",
		op, need, len(d.socks), d.cfg.maxSockets, SettingMaxSockets)
}

// resolve maps the host names the loopback answers to its address.
func resolve(host string) (netip.Addr, error) {
	switch strings.ToLower(host) {
	case "127.0.0.1", "localhost":
		return loopback4, nil
	case "::1":
		return loopback6, nil
	}
	return netip.Addr{}, sdk.Errorf(sdk.ErrUnreachable,
		"connect %s: the loopback driver reaches only 127.0.0.1, localhost and ::1", host)
}

// ephemeralPort picks a free local port for a client socket; d.mu must be
// held.
func (d *Driver) ephemeralPort() (int, bool) {
	for range lastEphemeral - firstEphemeral + 1 {
		d.lastPort++
		if d.lastPort < firstEphemeral || d.lastPort > lastEphemeral {
			d.lastPort = firstEphemeral
		}
		if !d.ephemeral[d.lastPort] && d.listeners[d.lastPort] == nil {
			return d.lastPort, true
		}
	}
	return 0, false
}
