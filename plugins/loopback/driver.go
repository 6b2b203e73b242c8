package loopback

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

// Name is the driver's name in its Info.
const Name = "loopback"

// Version is the driver's version in its Info.
const Version = "0.1.0"

// lifecycle is where a Driver is between New and Close.
type lifecycle int

const (
	stateNew lifecycle = iota
	stateOpen
	stateClosed
)

// Driver is the in-memory loopback driver: its Listen and Connect meet
// inside the process, and each socket's data goes through a bounded buffer
// to the socket's own delivery goroutine.
//
// Ownership: the Driver owns every socket it hands out and one goroutine per
// socket, started by Listen or Connect; a socket's goroutine is the only
// caller of Events for that socket, so its events never overlap and arrive
// in order. While that goroutine is inside a host callback (Accepted,
// Received, Finished, Dropped) it is marked in event, and the host has it
// on loan: the driver cannot tell whether the host is the one calling
// CloseSocket or Close from inside that callback, so it never waits for it.
// Each goroutine exits:
//
//   - on its own after raising Dropped, or when Received returned an error
//     (after Finished it does not exit: it stays, idle, for a later Dropped
//     or the socket's close);
//   - when its socket is halted (CloseSocket, Close) while it is not in an
//     event: it is woken at once, raises nothing more, and Close waits for
//     it (within Close's ctx);
//   - when its socket is halted while it is in an event: it exits by itself
//     as soon as the callback returns, raising nothing more. Close does not
//     wait for it; the host guarantees that a blocked Received returns once
//     CloseSocket or Close is called, so it does not linger.
//
// So no new event of a socket starts once CloseSocket of it returns, and no
// new event at all once Close returns; an event already running may finish.
// Close is idempotent.
//
// Concurrency: every method is safe from any goroutine, and from inside the
// handlers of Events, including CloseSocket of the handler's own socket and
// Close of the driver.
type Driver struct {
	mu        sync.Mutex
	state     lifecycle
	cfg       config
	events    sdk.Events
	log       hclog.Logger
	closing   chan struct{}          // closed by Close: wakes every waiting call
	lastID    sdk.Socket             // the last socket handed out; ids are never reused
	socks     map[sdk.Socket]*socket // open sockets, listeners included; the limit counts these
	listeners map[int]*socket        // open listeners by port
	ephemeral map[int]bool           // local ports of client sockets
	lastPort  int                    // the last ephemeral port handed out
	running   map[*socket]bool       // sockets whose goroutine has not exited yet (see Driver)
}

// New returns a driver that is not open yet.
func New() *Driver {
	return &Driver{closing: make(chan struct{})}
}

var _ sdk.Driver = (*Driver)(nil)

// Open starts the driver with its settings (see the Setting constants) and
// says what it supports.
func (d *Driver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	if req.Events == nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "loopback: open: no Events given")
	}
	if err := ctx.Err(); err != nil {
		return sdk.Info{}, ctxError("open", err)
	}
	cfg, err := parseSettings(req.Settings)
	if err != nil {
		return sdk.Info{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch d.state {
	case stateOpen:
		return sdk.Info{}, sdk.Errorf(sdk.ErrBusy, "loopback: open: the driver is already open")
	case stateClosed:
		return sdk.Info{}, sdk.Errorf(sdk.ErrUnsupported, "loopback: open: a closed driver cannot be opened again, make a new one with New")
	}
	d.state = stateOpen
	d.cfg = cfg
	d.events = req.Events
	d.log = req.Logger
	if d.log == nil {
		d.log = hclog.NewNullLogger()
	}
	d.socks = make(map[sdk.Socket]*socket)
	d.listeners = make(map[int]*socket)
	d.ephemeral = make(map[int]bool)
	d.running = make(map[*socket]bool)
	d.log.Debug("loopback open", "interface", req.Interface, "settings", req.Settings.Redacted())
	return d.info(), nil
}

// info describes the driver; d.cfg must be set.
func (d *Driver) info() sdk.Info {
	return sdk.Info{
		Name:         Name,
		Version:      Version,
		Device:       "in-memory loopback",
		CanListen:    true,
		MaxSockets:   d.cfg.maxSockets,
		CanHalfClose: true,
	}
}

// Close closes every socket without Dropped events and stops the driver: no
// new event starts once it returns. It waits for every socket goroutine
// that is not inside a host callback at that moment to exit; a goroutine
// that is inside one (the caller's own, when Close is called from a
// handler, or another socket's) is not waited for and exits by itself,
// raising nothing more, as soon as its callback returns (see Driver). If a
// goroutine does not exit before ctx is done, Close returns ErrTimeout or
// ErrCanceled; the driver is closed anyway. Closing a closed driver does
// nothing and returns nil; closing a driver that was never opened returns
// ErrNotOpen.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	switch d.state {
	case stateNew:
		d.mu.Unlock()
		return sdk.Errorf(sdk.ErrNotOpen, "loopback: close: the driver was never opened")
	case stateClosed:
		d.mu.Unlock()
		return nil
	}
	d.state = stateClosed
	close(d.closing)
	for _, s := range d.socks {
		s.halt()
	}
	clear(d.socks)
	clear(d.listeners)
	clear(d.ephemeral)
	// A goroutine not in an event now never starts one (it checks the state
	// under d.mu first), so waiting for it is bounded by the driver alone.
	var wait []chan struct{}
	for s := range d.running {
		if !s.inEvent {
			wait = append(wait, s.done)
		}
	}
	d.mu.Unlock()
	for _, done := range wait {
		select {
		case <-done:
		case <-ctx.Done():
			return ctxError("close: a socket goroutine did not exit", ctx.Err())
		}
	}
	d.log.Debug("loopback closed")
	return nil
}

// Peer returns the remote address of a connected socket: 127.0.0.1 (or ::1)
// and the listener's port for a client socket, the client's ephemeral port
// for an accepted one.
func (d *Driver) Peer(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("peer", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if s.listener {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrBadArgument, "peer: %v is a listener, which has no peer", id)
	}
	return s.remote, nil
}

// Local implements sdk.Driver: a listener's address is 127.0.0.1 and its
// port (it answers ::1 too); a connected socket's is its own address, the
// client's ephemeral port or, for an accepted socket, the listener's port.
func (d *Driver) Local(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("local address", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if s.listener {
		return netip.AddrPortFrom(loopback4, uint16(s.port)), nil
	}
	return s.local, nil
}

// lookup returns the open socket id; d.mu must be held.
func (d *Driver) lookup(op string, id sdk.Socket) (*socket, error) {
	if d.state != stateOpen {
		return nil, sdk.Errorf(sdk.ErrNotOpen, "loopback: %s", op)
	}
	s := d.socks[id]
	if s == nil {
		return nil, sdk.Errorf(sdk.ErrClosed, "%s: %v is not open (closed, dropped or never opened)", op, id)
	}
	return s, nil
}

// ctxError turns a context's error into the vocabulary.
func ctxError(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return sdk.Errorf(sdk.ErrTimeout, "loopback: %s: %w", op, err)
	}
	return sdk.Errorf(sdk.ErrCanceled, "loopback: %s: %w", op, err)
}
