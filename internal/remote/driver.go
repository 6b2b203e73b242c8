// Package remote is the host side of the wire protocol: Driver is an
// sdk.Driver that forwards every call to a driver plugin process over gRPC,
// and Launch starts such a process.
//
// Ownership: a Driver owns its event reader, its credit writer and the
// per-socket delivery goroutines it starts; Close stops them. Events of one
// socket are delivered by at most one goroutine at a time, in order.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

// Driver forwards the sdk contract to a plugin over a gRPC connection. It is
// safe for concurrent use, as sdk.Driver requires.
type Driver struct {
	client wire.DriverClient
	logger hclog.Logger
	window int64
	pid    int // the plugin process, 0 when unknown
	// maxSockets is what the driver said it holds (Open), to bound the
	// sockets a plugin can make the host keep events for.
	maxSockets int
	// onExit runs once, on a goroutine of its own that Close waits for,
	// when the connection to the plugin breaks or the driver is closed (the
	// process owner uses it to reap the process).
	onExit func()

	mu        sync.Mutex
	events    sdk.Events
	inboxes   map[sdk.Socket]*inbox
	gone      map[sdk.Socket]struct{}
	state     int // stateNew, stateOpen, stateClosed
	dead      bool
	crashed   bool // dead because the plugin went away, not closed here
	deadCh    chan struct{}
	calls     map[uint64]*sendCall
	nextCall  uint64
	sendLocks map[sdk.Socket]chan struct{}

	out     *outbox
	conn    net.Conn       // the data path
	loops   sync.WaitGroup // the data path's reader, and the reaper
	runners sync.WaitGroup // per-socket delivery goroutines
}

const (
	stateNew = iota
	stateOpen
	stateClosed
)

// NewDriver returns a Driver that talks over conn. window is the receive
// credit per socket in bytes (0: wire.DefaultWindow). onExit, if not nil,
// runs once when the connection breaks or Close is done.
func NewDriver(conn grpc.ClientConnInterface, logger hclog.Logger, window int, onExit func()) *Driver {
	if window <= 0 {
		window = wire.DefaultWindow
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Driver{
		client:    wire.NewDriverClient(conn),
		logger:    logger,
		window:    int64(window),
		onExit:    onExit,
		inboxes:   make(map[sdk.Socket]*inbox),
		gone:      make(map[sdk.Socket]struct{}),
		deadCh:    make(chan struct{}),
		calls:     make(map[uint64]*sendCall),
		sendLocks: make(map[sdk.Socket]chan struct{}),
		out:       newOutbox(),
	}
}

// PID returns the plugin's process id (0 when not launched by Launch).
func (d *Driver) PID() int { return d.pid }

// Exited is closed when the plugin connection broke or the driver closed.
func (d *Driver) Exited() <-chan struct{} { return d.deadCh }

// Open opens the event stream, then the driver.
func (d *Driver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	if req.Events == nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "open: no Events given")
	}
	d.mu.Lock()
	if d.state != stateNew {
		d.mu.Unlock()
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "open: driver opened twice")
	}
	if d.dead {
		d.mu.Unlock()
		return sdk.Info{}, sdk.ErrDriverExited
	}
	d.state = stateOpen
	d.events = req.Events
	d.mu.Unlock()

	conn, err := d.openData(ctx)
	if err != nil {
		d.die(err)
		return sdk.Info{}, err
	}
	d.mu.Lock()
	d.conn = conn
	d.mu.Unlock()
	d.loops.Add(1)
	go d.readEvents(wire.NewFrameReader(conn))
	d.out.attach(wire.NewFrameWriter(conn), conn)

	resp, err := d.client.Open(ctx, &wire.OpenRequest{Interface: req.Interface, Settings: req.Settings, Window: uint32(d.window)})
	if err != nil {
		return sdk.Info{}, d.callErr(ctx, err)
	}
	if err := errOf(resp.Status); err != nil {
		return sdk.Info{}, err
	}
	d.mu.Lock()
	d.maxSockets = int(resp.MaxSockets)
	d.mu.Unlock()
	return sdk.Info{
		Name: resp.Name, Version: resp.Version, Device: resp.Device,
		CanListen: resp.CanListen, MaxListeners: int(resp.MaxListeners),
		MaxSockets: int(resp.MaxSockets), MaxWrite: int(resp.MaxWrite),
	}, nil
}

// openData asks the plugin for its data path, dials it and presents the
// token. The connection carries every event and write (see wire.proto).
func (d *Driver) openData(ctx context.Context) (net.Conn, error) {
	dc, err := d.client.OpenData(ctx, &wire.Empty{})
	if err != nil {
		return nil, d.callErr(ctx, err)
	}
	if err := errOf(dc.Status); err != nil {
		return nil, err
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", dc.Path)
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrDriverExited, "open the data path: %w", err)
	}
	if err := wire.NewFrameWriter(conn).Write(&wire.DataChannel{Token: dc.Token}); err != nil {
		conn.Close()
		return nil, sdk.Errorf(sdk.ErrDriverExited, "open the data path: %w", err)
	}
	return conn, nil
}

func (d *Driver) checkOpen() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.state != stateOpen:
		return sdk.ErrNotOpen
	case d.dead:
		return sdk.ErrDriverExited
	}
	return nil
}

// Connect implements sdk.Driver.
func (d *Driver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	if err := sdk.CheckConnect(req); err != nil {
		return 0, err
	}
	resp, err := d.client.Connect(ctx, &wire.ConnectRequest{Host: req.Host, Port: uint32(req.Port)})
	if err != nil {
		return 0, d.callErr(ctx, err)
	}
	return d.opened(resp)
}

// Listen implements sdk.Driver.
func (d *Driver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	if err := sdk.CheckListen(req); err != nil {
		return 0, err
	}
	resp, err := d.client.Listen(ctx, &wire.ListenRequest{Port: uint32(req.Port)})
	if err != nil {
		return 0, d.callErr(ctx, err)
	}
	return d.opened(resp)
}

// opened registers a socket a Connect or Listen returned, so that it gets
// its drop if the plugin dies.
func (d *Driver) opened(resp *wire.SocketResponse) (sdk.Socket, error) {
	if err := errOf(resp.Status); err != nil {
		return 0, err
	}
	s := sdk.Socket(resp.Socket)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		// The plugin died between its answer and now; the socket is gone.
		return 0, sdk.ErrDriverExited
	}
	d.inboxLocked(s)
	return s, nil
}

// Send implements sdk.Driver. The data goes out on the session stream in
// chunks, at most sendWindow bytes ahead of what the driver has taken; Send
// returns when the driver reports the last chunk taken. Sends on one socket
// are serialized so that their bytes never interleave.
func (d *Driver) Send(ctx context.Context, s sdk.Socket, data []byte) error {
	if err := d.checkOpen(); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	lock := d.sendLock(s)
	select {
	case lock <- struct{}{}:
	case <-ctx.Done():
		return sdk.Errorf(sdk.CodeOf(ctx.Err()).Sentinel(), "send on %v: waiting for an earlier send: %w", s, ctx.Err())
	}
	defer func() { <-lock }()

	// One report per chunk in flight at most, and the reader must never
	// block on this channel (it holds d.mu): room for a window and more.
	call := &sendCall{progress: make(chan *wire.Written, sendWindow/wire.MaxChunk+8)}
	d.mu.Lock()
	d.nextCall++
	id := d.nextCall
	d.calls[id] = call
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.calls, id)
		d.mu.Unlock()
	}()

	offset, inflight := 0, 0
	for {
		for offset < len(data) && inflight < sendWindow {
			n := min(len(data)-offset, wire.MaxChunk)
			chunk := make([]byte, n) // the caller may reuse data once Send returns
			copy(chunk, data[offset:])
			offset += n
			inflight += n
			d.out.write(&wire.Write{Socket: uint64(s), Id: id, Data: chunk, Last: offset == len(data)})
		}
		select {
		case w := <-call.progress:
			inflight -= int(w.Bytes)
			if w.Done {
				err := errOf(w.Status)
				if err != nil {
					d.out.cancel(s, id) // chunks not sent yet are moot
				}
				return err
			}
		case <-ctx.Done():
			d.out.cancel(s, id)
			return sdk.Errorf(sdk.CodeOf(ctx.Err()).Sentinel(), "send on %v: %w", s, ctx.Err())
		case <-d.deadCh:
			return d.goneErr(fmt.Sprintf("send on %v", s))
		}
	}
}

// sendWindow bounds the bytes of one Send the driver has not taken yet, and
// so the memory a plugin spends on one socket's writes.
const sendWindow = 1 << 20

type sendCall struct {
	progress chan *wire.Written
}

// sendLock returns the lock (a one-slot channel, so waiting honours a
// ctx) that serializes Sends on s.
func (d *Driver) sendLock(s sdk.Socket) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.sendLocks[s]
	if m == nil {
		m = make(chan struct{}, 1)
		d.sendLocks[s] = m
	}
	return m
}

// Peer implements sdk.Driver.
func (d *Driver) Peer(ctx context.Context, s sdk.Socket) (netip.AddrPort, error) {
	if err := d.checkOpen(); err != nil {
		return netip.AddrPort{}, err
	}
	resp, err := d.client.Peer(ctx, &wire.SocketRequest{Socket: uint64(s)})
	if err != nil {
		return netip.AddrPort{}, d.callErr(ctx, err)
	}
	if err := errOf(resp.Status); err != nil {
		return netip.AddrPort{}, err
	}
	ap, err := netip.ParseAddrPort(resp.Addr)
	if err != nil {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrInternal, "peer: the driver sent a bad address %q", resp.Addr)
	}
	return ap, nil
}

// CloseSocket implements sdk.Driver: events of s still queued are dropped.
func (d *Driver) CloseSocket(ctx context.Context, s sdk.Socket) error {
	if err := d.checkOpen(); err != nil {
		return err
	}
	d.mu.Lock()
	d.forgetLocked(s)
	d.mu.Unlock()
	resp, err := d.client.CloseSocket(ctx, &wire.SocketRequest{Socket: uint64(s)})
	if err != nil {
		return d.callErr(ctx, err)
	}
	return errOf(resp)
}

// Close closes the driver in the plugin, then stops the stream and waits
// for the goroutines it owns (delivery goroutines at most until ctx ends:
// one may be running a callback that itself called Close).
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.state == stateClosed {
		d.mu.Unlock()
		return nil
	}
	wasOpen := d.state == stateOpen
	dead := d.dead
	d.state = stateClosed
	if !dead {
		// Closed here: nothing more is delivered. (After a death the events
		// already received, each socket's last data and its drop, are
		// still delivered; Close waits for them below.)
		for s := range d.inboxes {
			d.forgetLocked(s)
		}
	}
	d.mu.Unlock()

	var err error
	if wasOpen && !dead {
		var st *wire.Status
		st, err = d.client.Close(ctx, &wire.Empty{})
		if err != nil {
			err = d.callErr(ctx, err)
			if errors.Is(err, sdk.ErrDriverExited) {
				err = nil
			}
		} else {
			err = errOf(st)
		}
	}
	d.die(nil)
	d.loops.Wait()
	waited := make(chan struct{})
	go func() { d.runners.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		d.logger.Warn("closing with an event callback still running")
	}
	return err
}

// die marks the connection gone: every socket still open gets its one
// Dropped(ErrDriverExited) after the events queued before it. cause is nil
// for a local Close.
func (d *Driver) die(cause error) {
	d.mu.Lock()
	if d.dead {
		d.mu.Unlock()
		return
	}
	d.dead = true
	d.crashed = cause != nil
	close(d.deadCh)
	if cause != nil && d.state == stateOpen {
		d.logger.Error("driver plugin exited", "error", cause)
		for s, in := range d.inboxes {
			in.pushLocked(d, event{kind: evDropped, reason: sdk.Errorf(sdk.ErrDriverExited, "%v", s)})
		}
	}
	d.out.stop()
	if d.conn != nil {
		d.conn.Close()
	}
	if d.onExit != nil {
		// Reaping may wait for the process to exit: never on the caller.
		d.loops.Add(1)
		go func() {
			defer d.loops.Done()
			d.onExit()
		}()
	}
	d.mu.Unlock()
}

// callErr turns a failed gRPC call into the vocabulary: the caller's own
// deadline or cancel stays what it is, a broken connection is
// ErrDriverExited, anything else is internal.
func (d *Driver) callErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return sdk.Errorf(sdk.CodeOf(ctxErr).Sentinel(), "%w", ctxErr)
	}
	d.mu.Lock()
	dead := d.dead
	d.mu.Unlock()
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		if dead {
			return d.goneErr("rpc")
		}
		return sdk.Errorf(sdk.ErrDriverExited, "rpc: %v", status.Convert(err).Message())
	case codes.DeadlineExceeded:
		return sdk.Errorf(sdk.ErrTimeout, "rpc: %v", status.Convert(err).Message())
	}
	if dead {
		return d.goneErr("rpc")
	}
	return sdk.Errorf(sdk.ErrInternal, "rpc: %v", err)
}

// goneErr says why a call cannot complete once the connection is down: the
// driver was closed here (ErrClosed), or its process died (ErrDriverExited).
func (d *Driver) goneErr(op string) error {
	d.mu.Lock()
	closed := d.state == stateClosed && !d.crashed
	d.mu.Unlock()
	if closed {
		return sdk.Errorf(sdk.ErrClosed, "%s: the driver is closed", op)
	}
	return sdk.Errorf(sdk.ErrDriverExited, "%s", op)
}

// errOf is the host side's one translation point from wire codes back to
// the sdk's sentinels.
func errOf(s *wire.Status) error {
	if s == nil {
		return nil
	}
	return sdk.FromCode(sdk.Code(s.Code), s.Message)
}

// CloseWrite implements sdk.Driver (temporary: not carried yet).
func (d *Driver) CloseWrite(ctx context.Context, s sdk.Socket) error {
	return sdk.Errorf(sdk.ErrUnsupported, "close write on %v: not carried by this data path", s)
}
