// Package remote is the protocol between the host and a driver plugin
// process, both its halves: Driver, the host's proxy sdk.Driver, and Serve,
// the plugin's server, built on primitives written once (frames and their
// batching writer in frame.go and batch.go, the per-socket lane, the
// bounded set of ended ids). Launch starts a plugin process.
//
// The session: gRPC (through go-plugin) opens it (OpenData, Open) and closes
// it (Close). Everything per socket travels on the data path, a raw Unix
// socket carrying binary frames: calls (connect, listen, peer) and their
// replies, writes, half-closes and closes in the order the host made them,
// events in the order the driver raised them, and credits both ways.
//
// Flow control, both ways by credit:
//   - receive: the host grants each socket a window (wire.DefaultWindow); the
//     plugin sends a socket's data only within it, and the host gives credit
//     back as the application consumes, a quarter window at a time;
//   - send: the plugin grants each socket a send window (1 MiB unless
//     the driver's Info.SendWindow says otherwise); a host Send returns once
//     its bytes are written to the data path within that window (committed,
//     as TCP's write returns once the kernel has the bytes), and the plugin
//     gives credit back as the driver takes them. A driver without a window
//     (SendWindow < 0) has each Send wait until the driver took its bytes.
//
// So a Send costs no round trip, and both processes' memory per socket is
// bounded by the windows whatever the peers do.
package remote

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ifsock/ifsock/internal/idset"
	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// writeStall is how long a write to the data path may stay blocked before
// the host takes the plugin for dead: its reader never waits that long for
// anything (a plugin alive but stopped, or deadlocked, would otherwise make
// every Send and Close wait forever).
const writeStall = 30 * time.Second

// defaultSendWindow is the send credit of a socket, in bytes, unless the
// driver says otherwise (sdk.Info.SendWindow): what the host may write
// ahead of what the driver has taken. It bounds the plugin's memory for
// one socket's writes.
const defaultSendWindow = 1 << 20

// sendWindowOf is the send credit of a socket of a driver that said info,
// and whether its Sends wait for the driver to take their bytes.
func sendWindowOf(info sdk.Info) (window int64, sync bool) {
	switch {
	case info.SendWindow > 0:
		return int64(min(info.SendWindow, 16<<20)), false
	case info.SendWindow < 0:
		return defaultSendWindow, true
	}
	return defaultSendWindow, false
}

// Driver is the host's proxy for a driver in a plugin process: an
// sdk.Driver whose calls travel to the plugin. It is safe for concurrent
// use, as sdk.Driver requires.
//
// Ownership: a Driver owns its data path reader, the lanes that deliver each
// socket's events (a goroutine per socket only while it has events queued),
// and the plugin process (through onExit); Close stops them all. When the
// plugin dies the Driver is the one owner of the consequence: every socket
// it knows gets exactly one Dropped(ErrDriverExited), after the events that
// had arrived, and every call in flight fails with ErrDriverExited.
type Driver struct {
	client     wire.DriverClient
	logger     hclog.Logger
	window     int64 // receive credit of a socket
	connWindow int64 // receive credit all sockets share, in cost units (wire.FrameCost)
	maxSockets int   // the host's own bound on sockets (Limits.MaxSockets)
	pid        int   // the plugin process, 0 when unknown
	onExit     func()

	// The shared window's accounting, in cost units: what the lanes hold
	// (bounded by connWindow) and what they consumed since the last credit.
	// Atomic: a lane's drop hook runs with or without mu held.
	connQueued   atomic.Int64
	connConsumed atomic.Int64

	mu         sync.Mutex
	events     sdk.Events
	info       sdk.Info
	sendWindow int64 // a socket's send credit (sendWindowOf)
	syncSend   bool  // Sends wait until the driver took their bytes
	state      int   // stateNew, stateOpen, stateClosed
	dead       bool
	crashed    bool // dead because the plugin went away, not closed here
	deadCh     chan struct{}
	socks      map[sdk.Socket]*hostSocket
	ended      idset.Set // sockets closed or dropped: late frames are ignored
	calls      map[uint64]*call
	nextCall   uint64
	opening    int // Connect and Listen calls awaiting their reply
	unknown    int // sockets events named before a reply introduced them

	out     *batchWriter // nil until the data path is up
	conn    net.Conn
	loops   sync.WaitGroup // the data path's readers (see relay), and the reaper
	runners sync.WaitGroup // lanes delivering events
}

const (
	stateNew = iota
	stateOpen
	stateClosed
)

// hostSocket is the host's state of one socket. Fields after events are
// guarded by Driver.mu.
type hostSocket struct {
	id       sdk.Socket
	events   lane[event]
	deliver  func(event) bool // runs one event of the lane (Driver.deliver); made by the first event
	consumed int64            // data delivered since the last credit; the lane's alone

	listener bool
	finished bool // the plugin said the peer finished: no data may follow
	unknown  bool // named by events before the reply that returns it
	peer     netip.AddrPort
	local    netip.AddrPort // known from the reply, or asked once
	queued   int64          // data bytes queued in events: bounded by the window
	turn     chan struct{}  // one slot: a socket's Sends and CloseWrite take turns
	avail    int64          // send credit left
	put      int64          // bytes ever written to the data path
	taken    int64          // bytes the driver ever took
	wake     chan struct{}  // closed and replaced when credit comes or the socket ends
	sendErr  error          // why Sends fail from now on
}

type eventKind uint8

const (
	evAccepted eventKind = iota
	evData
	evFinished
	evDropped
)

type event struct {
	kind     eventKind
	listener sdk.Socket
	peer     netip.AddrPort
	data     []byte
	reason   error
}

type call struct {
	done  chan struct{}
	err   error
	sock  sdk.Socket
	peer  netip.AddrPort
	local netip.AddrPort
	op    byte
	abort bool // the caller gave up: a socket in the reply is closed
}

// Limits bound what the host gives one plugin, whatever the plugin
// declares or sends: a plugin that goes beyond them breaks the protocol, and
// is stopped (and restarted by its owner). With them the host's memory for
// a plugin is about ConnWindow plus a few hundred bytes per socket.
type Limits struct {
	// Window is a socket's receive credit in bytes (0: wire.DefaultWindow).
	Window int
	// ConnWindow is the receive credit all sockets share (HTTP/2's
	// connection window), in cost units: a data frame costs its payload plus
	// wire.FrameCost (0: wire.DefaultConnWindow; at least 64 KiB).
	ConnWindow int
	// MaxSockets bounds the sockets the host keeps state for (0:
	// DefaultMaxSockets); a driver declaring fewer lowers it.
	MaxSockets int
}

// DefaultMaxSockets is the host's bound on one plugin's sockets when
// Limits.MaxSockets is 0.
const DefaultMaxSockets = 4096

// minConnWindow keeps the shared window usable: a full chunk always fits.
const minConnWindow = 64 << 10

// NewDriver returns a Driver that talks to a plugin over conn, within lim.
// onExit, if not nil, runs once when the plugin is gone or Close is done.
func NewDriver(conn grpc.ClientConnInterface, logger hclog.Logger, lim Limits, onExit func()) *Driver {
	if lim.Window <= 0 {
		lim.Window = wire.DefaultWindow
	}
	if lim.ConnWindow <= 0 {
		lim.ConnWindow = wire.DefaultConnWindow
	}
	if lim.MaxSockets <= 0 {
		lim.MaxSockets = DefaultMaxSockets
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Driver{
		client:     wire.NewDriverClient(conn),
		logger:     logger,
		window:     int64(lim.Window),
		connWindow: int64(max(lim.ConnWindow, minConnWindow, lim.Window/4+wire.FrameCost)),
		maxSockets: lim.MaxSockets,
		onExit:     onExit,
		deadCh:     make(chan struct{}),
		socks:      make(map[sdk.Socket]*hostSocket),

		sendWindow: defaultSendWindow,
		calls:      make(map[uint64]*call),
	}
}

// PID returns the plugin's process id (0 when not launched by Launch).
func (d *Driver) PID() int { return d.pid }

// Exited is closed when the plugin is gone or the driver closed.
func (d *Driver) Exited() <-chan struct{} { return d.deadCh }

// Open opens the data path, then the driver.
func (d *Driver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	if req.Events == nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "open: no Events given")
	}
	d.mu.Lock()
	if d.state != stateNew || d.dead {
		d.mu.Unlock()
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "open: a plugin driver opens once")
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
	d.out = newBatchWriter(conn, func(err error) { d.die(err) }).watchStall(writeStall, conn)
	d.mu.Unlock()
	d.read(newFrameReader(conn))

	resp, err := d.client.Open(ctx, &wire.OpenRequest{
		Interface: req.Interface, Settings: req.Settings,
		Window: uint32(d.window), ConnWindow: uint32(d.connWindow),
	})
	if err != nil {
		return sdk.Info{}, d.callErr(ctx, err)
	}
	if err := statusErr(resp.Status); err != nil {
		return sdk.Info{}, err
	}
	info := sdk.Info{
		Name: resp.Name, Version: resp.Version, Device: resp.Device,
		CanListen: resp.CanListen, MaxListeners: int(resp.MaxListeners),
		MaxSockets: int(resp.MaxSockets), MaxWrite: int(resp.MaxWrite),
		CanHalfClose: resp.CanHalfClose, SendWindow: int(resp.SendWindow),
		MaxConnections: int(resp.MaxConnections),
	}
	d.mu.Lock()
	d.info = info
	d.sendWindow, d.syncSend = sendWindowOf(info)
	for _, h := range d.socks {
		h.avail = d.sendWindow // sockets announced during Open
	}
	d.mu.Unlock()
	return info, nil
}

// openData asks the plugin for its data path, dials it and presents the
// token.
func (d *Driver) openData(ctx context.Context) (net.Conn, error) {
	dc, err := d.client.OpenData(ctx, &wire.Empty{})
	if err != nil {
		return nil, d.callErr(ctx, err)
	}
	if err := statusErr(dc.Status); err != nil {
		return nil, err
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", dc.Path)
	if err != nil {
		return nil, sdk.Errorf(sdk.ErrDriverExited, "open the data path: %w", err)
	}
	tuneDataPath(conn)
	if _, err := conn.Write(dc.Token); err != nil {
		conn.Close()
		return nil, sdk.Errorf(sdk.ErrDriverExited, "open the data path: %w", err)
	}
	return conn, nil
}

// usable fails when the driver cannot take calls; d.mu is held.
func (d *Driver) usableLocked() error {
	switch {
	case d.state == stateNew || d.out == nil:
		// (Open sets the data path up before it returns: calls made while
		// it runs are too early.)
		return sdk.Errorf(sdk.ErrNotOpen, "the driver was not opened yet")
	case d.state == stateClosed:
		return sdk.Errorf(sdk.ErrNotOpen, "the driver is closed")
	case d.dead:
		return d.goneErrLocked("call")
	}
	return nil
}

// Connect implements sdk.Driver.
func (d *Driver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	if err := sdk.CheckConnect(req); err != nil {
		return 0, err
	}
	args := putStr([]byte{opConnect}, req.Host)
	args = putU16(args, uint16(req.Port))
	c, err := d.call(ctx, opConnect, args)
	if err != nil {
		return 0, err
	}
	return c.sock, nil
}

// Listen implements sdk.Driver.
func (d *Driver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	if err := sdk.CheckListen(req); err != nil {
		return 0, err
	}
	c, err := d.call(ctx, opListen, putU16([]byte{opListen}, uint16(req.Port)))
	if err != nil {
		return 0, err
	}
	return c.sock, nil
}

// call sends a call and waits for its reply. A Connect or Listen reply
// registers its socket; one that comes after the caller gave up is closed.
func (d *Driver) call(ctx context.Context, op byte, args []byte) (*call, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxErr("call", err)
	}
	d.mu.Lock()
	if err := d.usableLocked(); err != nil {
		d.mu.Unlock()
		return nil, err
	}
	id, c := d.startCallLocked(op, args)
	d.mu.Unlock()
	d.out.kick()
	select {
	case <-c.done:
		return c, c.err
	case <-ctx.Done():
		d.mu.Lock()
		select {
		case <-c.done:
			d.mu.Unlock()
			return c, c.err
		default:
		}
		c.abort = true
		d.out.put(fCancel, id, nil, nil)
		d.mu.Unlock()
		d.out.kick()
		return nil, ctxErr("call", ctx.Err())
	case <-d.deadCh:
		return nil, d.goneErr("call")
	}
}

// startCallLocked registers a call and queues its frame (the caller
// kicks the writer once it let go of d.mu); d.mu is held.
func (d *Driver) startCallLocked(op byte, args []byte) (uint64, *call) {
	d.nextCall++
	id := d.nextCall
	c := &call{done: make(chan struct{}), op: op}
	d.calls[id] = c
	if op == opConnect || op == opListen {
		d.opening++
	}
	d.out.put(fCall, id, args, nil)
	return id, c
}

// drain waits until the plugin ran every write and close sent before it.
func (d *Driver) drain(ctx context.Context) error {
	d.mu.Lock()
	if d.dead || d.out == nil {
		d.mu.Unlock()
		return nil
	}
	_, c := d.startCallLocked(opDrain, []byte{opDrain})
	d.mu.Unlock()
	d.out.kick()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctxErr("drain", ctx.Err())
	case <-d.deadCh:
		return nil
	}
}

// socket returns the state of an open socket s, or why it is not.
func (d *Driver) socketLocked(op string, s sdk.Socket) (*hostSocket, error) {
	if err := d.usableLocked(); err != nil {
		return nil, err
	}
	h := d.socks[s]
	if h == nil {
		return nil, sdk.Errorf(sdk.ErrClosed, "%s: %v is not open", op, s)
	}
	return h, nil
}

// newSocketLocked makes the state of a socket the plugin announced; nil if
// it ended already.
func (d *Driver) newSocketLocked(s sdk.Socket) *hostSocket {
	if h := d.socks[s]; h != nil {
		return h
	}
	if d.ended.Has(uint64(s)) || d.dead || d.state == stateClosed || s == 0 {
		return nil // ended, or arriving while the driver closes
	}
	h := &hostSocket{id: s, avail: d.sendWindow}
	// Data events dropped unrun (the socket closed here) give their share
	// of the connection window back.
	h.events.drop = func(e event) {
		if e.kind == evData {
			d.connQueued.Add(-cost(len(e.data)))
			d.consumedConn(cost(len(e.data)))
		}
	}
	d.socks[s] = h
	return h
}

// endLocked takes s out of the table: later frames for it are ignored,
// waiting Sends fail with err. Its lane is left to the caller.
func (d *Driver) endLocked(h *hostSocket, err error) {
	if d.socks[h.id] == h {
		delete(d.socks, h.id)
	}
	if h.unknown {
		h.unknown = false
		d.unknown--
	}
	d.ended.Add(uint64(h.id))
	if h.sendErr == nil {
		h.sendErr = err
	}
	if h.wake != nil {
		close(h.wake)
		h.wake = nil
	}
}

// Send implements sdk.Driver: the data is written to the data path in
// chunks within the socket's send window, without a copy, and Send returns
// once every byte is written there (committed for in-order delivery). It
// waits while the window is full. Sends on one socket take turns, so their
// bytes never interleave.
func (d *Driver) Send(ctx context.Context, s sdk.Socket, data []byte) error {
	d.mu.Lock()
	h, err := d.socketLocked("send", s)
	if err == nil && h.listener {
		err = sdk.Errorf(sdk.ErrBadArgument, "send: %v is a listener: send on the sockets it accepts", s)
	}
	if err == nil && h.turn == nil {
		h.turn = make(chan struct{}, 1)
	}
	d.mu.Unlock()
	if err != nil || len(data) == 0 {
		return err
	}
	select {
	case h.turn <- struct{}{}:
	default:
		select {
		case h.turn <- struct{}{}:
		case <-ctx.Done():
			return ctxErr(fmt.Sprintf("send on %v: waiting for an earlier send", s), ctx.Err())
		}
	}
	defer func() { <-h.turn }()

	var last uint64 // the last frame of ours; we wait for it on every way out
	total := len(data)
	// partial says how many bytes were committed before err.
	partial := func(err error) error {
		if sent := total - len(data); sent > 0 {
			return &sdk.PartialSend{N: sent, Err: err}
		}
		return err
	}
	for len(data) > 0 {
		d.mu.Lock()
		for h.avail <= 0 && h.sendErr == nil && !d.dead {
			if h.wake == nil {
				h.wake = make(chan struct{})
			}
			wake := h.wake
			d.mu.Unlock()
			d.out.kick() // what we queued so far is what earns the credit
			select {
			case <-wake:
			case <-d.deadCh:
			case <-ctx.Done():
				d.out.wait(last)
				return partial(ctxErr(fmt.Sprintf("send on %v", s), ctx.Err()))
			}
			d.mu.Lock()
		}
		if err := h.sendErr; err != nil || d.dead {
			if err == nil {
				err = d.goneErrLocked(fmt.Sprintf("send on %v", s))
			}
			d.mu.Unlock()
			d.out.wait(last)
			return partial(err)
		}
		n := int(min(h.avail, int64(len(data)), wire.MaxChunk))
		h.avail -= int64(n)
		h.put += int64(n)
		last = d.out.put(fWrite, uint64(s), nil, data[:n])
		d.mu.Unlock()
		data = data[n:]
	}
	if err := d.out.wait(last); err != nil {
		return d.goneErr(fmt.Sprintf("send on %v", s))
	}
	d.mu.Lock()
	sync := d.syncSend
	d.mu.Unlock()
	if sync {
		return d.awaitTaken(ctx, h, total)
	}
	return nil
}

// awaitTaken waits until the driver took every byte written for h (a
// driver without a send window, sdk.Info.SendWindow < 0), or says why not:
// an sdk.PartialSend when the driver took some of the last n bytes, or
// when ctx ended with all of them committed (they are still sent).
func (d *Driver) awaitTaken(ctx context.Context, h *hostSocket, n int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	end := h.put
	// took is how many of this Send's n bytes the driver took.
	took := func() int { return int(max(0, min(int64(n), h.taken-(end-int64(n))))) }
	partial := func(k int, err error) error {
		if k > 0 {
			return &sdk.PartialSend{N: k, Err: err}
		}
		return err
	}
	for h.taken < end {
		if err := h.sendErr; err != nil {
			return partial(took(), err)
		}
		if d.dead {
			return partial(took(), d.goneErrLocked(fmt.Sprintf("send on %v", h.id)))
		}
		if h.wake == nil {
			h.wake = make(chan struct{})
		}
		wake := h.wake
		d.mu.Unlock()
		select {
		case <-wake:
		case <-d.deadCh:
		case <-ctx.Done():
			d.mu.Lock()
			// Every byte is committed: the plugin still hands them over.
			return partial(n, ctxErr(fmt.Sprintf("send on %v: waiting for the driver to take the bytes", h.id), ctx.Err()))
		}
		d.mu.Lock()
	}
	return nil
}

// CloseWrite implements sdk.Driver: after the bytes of earlier Sends, the
// plugin half-closes the socket. It returns once that is committed.
func (d *Driver) CloseWrite(ctx context.Context, s sdk.Socket) error {
	d.mu.Lock()
	h, err := d.socketLocked("close write", s)
	switch {
	case err != nil:
	case h.listener:
		err = sdk.Errorf(sdk.ErrBadArgument, "close write: %v is a listener", s)
	case !d.info.CanHalfClose:
		err = sdk.Errorf(sdk.ErrUnsupported, "close write on %v: the %s driver cannot half-close a connection (Info.CanHalfClose): close the socket instead", s, d.info.Name)
	case h.turn == nil:
		h.turn = make(chan struct{}, 1)
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case h.turn <- struct{}{}:
	case <-ctx.Done():
		return ctxErr(fmt.Sprintf("close write on %v: waiting for a send", s), ctx.Err())
	}
	defer func() { <-h.turn }()
	d.mu.Lock()
	if err := h.sendErr; err != nil {
		d.mu.Unlock()
		return err
	}
	h.sendErr = sdk.Errorf(sdk.ErrClosed, "send on %v: its write side is closed (CloseWrite)", s)
	seq := d.out.put(fCloseWrite, uint64(s), nil, nil)
	d.mu.Unlock()
	if err := d.out.wait(seq); err != nil {
		return d.goneErr(fmt.Sprintf("close write on %v", s))
	}
	return nil
}

// Peer implements sdk.Driver: the address came with the socket.
func (d *Driver) Peer(ctx context.Context, s sdk.Socket) (netip.AddrPort, error) {
	d.mu.Lock()
	h, err := d.socketLocked("peer", s)
	if err == nil && h.listener {
		err = sdk.Errorf(sdk.ErrBadArgument, "peer: %v is a listener, which has no peer", s)
	}
	var ap netip.AddrPort
	if err == nil {
		ap = h.peer
	}
	d.mu.Unlock()
	if err != nil || ap.IsValid() {
		return ap, err
	}
	c, err := d.call(ctx, opPeer, putU64([]byte{opPeer}, uint64(s)))
	if err != nil {
		return netip.AddrPort{}, err
	}
	return c.peer, nil
}

// Local implements sdk.Driver: the address came with a socket the host
// opened; an accepted socket's is asked of the plugin once.
func (d *Driver) Local(ctx context.Context, s sdk.Socket) (netip.AddrPort, error) {
	d.mu.Lock()
	h, err := d.socketLocked("local address", s)
	var ap netip.AddrPort
	if err == nil {
		ap = h.local
	}
	d.mu.Unlock()
	if err != nil || ap.IsValid() {
		return ap, err
	}
	c, err := d.call(ctx, opLocal, putU64([]byte{opLocal}, uint64(s)))
	if err != nil {
		return netip.AddrPort{}, err
	}
	d.mu.Lock()
	h.local = c.local
	d.mu.Unlock()
	return c.local, nil
}

// CloseSocket implements sdk.Driver: events of s still queued are dropped,
// and the plugin closes s after the bytes of the Sends that returned.
func (d *Driver) CloseSocket(ctx context.Context, s sdk.Socket) error {
	d.mu.Lock()
	h, err := d.socketLocked("close", s)
	if err != nil {
		d.mu.Unlock()
		return err
	}
	d.endLocked(h, sdk.Errorf(sdk.ErrClosed, "send on %v: the socket is closed", s))
	h.events.stop()
	d.out.put(fClose, uint64(s), nil, nil)
	d.mu.Unlock()
	d.out.kick()
	return nil
}

// Close closes the driver in the plugin, then the data path, and waits for
// the goroutines it owns (event lanes at most until ctx ends: one may be
// running a callback that itself called Close).
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.state == stateClosed {
		d.mu.Unlock()
		return nil
	}
	wasOpen, dead := d.state == stateOpen, d.dead
	d.state = stateClosed
	if !dead {
		// Closed here: nothing more is delivered. (After a death the events
		// that had arrived, and each socket's drop, are still delivered.)
		for _, h := range d.socks {
			d.endLocked(h, sdk.Errorf(sdk.ErrClosed, "send on %v: the driver is closed", h.id))
			h.events.stop()
		}
	}
	d.mu.Unlock()

	var err error
	if wasOpen && !dead {
		// The closes and writes queued before this Close reach the driver
		// first: the data path and gRPC are two channels.
		if derr := d.drain(ctx); derr != nil {
			d.logger.Warn("closing before every queued write was taken", "error", derr)
		}
		var st *wire.Status
		st, err = d.client.Close(ctx, &wire.Empty{})
		if err != nil {
			if err = d.callErr(ctx, err); errors.Is(err, sdk.ErrDriverExited) {
				err = nil
			}
		} else {
			err = statusErr(st)
		}
	}
	d.die(nil)
	// A reader or a lane may be running a callback that called Close: wait
	// for them only as long as ctx allows.
	waited := make(chan struct{})
	go func() { d.loops.Wait(); d.runners.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-ctx.Done():
		d.logger.Warn("closing with an event callback still running")
	}
	return err
}

// die marks the session over. cause is nil for a local Close; otherwise the
// plugin is gone, and every socket still open gets its one
// Dropped(ErrDriverExited) after the events queued before it.
func (d *Driver) die(cause error) {
	d.mu.Lock()
	if d.dead {
		d.mu.Unlock()
		return
	}
	d.dead = true
	d.crashed = cause != nil && d.state == stateOpen
	close(d.deadCh)
	var pv *protocolError
	switch {
	case d.crashed && errors.As(cause, &pv):
		d.logger.Error("driver plugin broke the protocol: stopping it", "error", cause)
	case d.crashed:
		d.logger.Error("driver plugin exited", "error", cause)
	}
	if d.crashed {
		reason := sdk.Errorf(sdk.ErrDriverExited, "the driver process exited (%v)", cause)
		for _, h := range d.socks {
			d.endLocked(h, reason)
			d.pushLocked(h, event{kind: evDropped, reason: reason})
		}
	}
	for id, c := range d.calls {
		delete(d.calls, id)
		c.err = d.goneErrLocked("call")
		close(c.done)
	}
	d.opening = 0
	if d.out != nil {
		d.out.fail(sdk.ErrDriverExited)
	}
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

// goneErr says why a call cannot complete once the session is down: the
// driver was closed here (ErrClosed), or its process died (ErrDriverExited).
func (d *Driver) goneErr(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.goneErrLocked(op)
}

func (d *Driver) goneErrLocked(op string) error {
	if d.state == stateClosed && !d.crashed {
		return sdk.Errorf(sdk.ErrClosed, "%s: the driver is closed", op)
	}
	return sdk.Errorf(sdk.ErrDriverExited, "%s: the driver process exited", op)
}

// callErr turns a failed gRPC call into the vocabulary: the caller's own
// deadline or cancel stays what it is, a broken connection is
// ErrDriverExited, anything else is internal.
func (d *Driver) callErr(ctx context.Context, err error) error {
	if ctxE := ctx.Err(); ctxE != nil {
		return ctxErr("rpc", ctxE)
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled:
		return sdk.Errorf(sdk.ErrDriverExited, "rpc: %v", status.Convert(err).Message())
	case codes.DeadlineExceeded:
		return sdk.Errorf(sdk.ErrTimeout, "rpc: %v", status.Convert(err).Message())
	}
	return sdk.Errorf(sdk.ErrInternal, "rpc: %v", err)
}

// ctxErr is the vocabulary's error for a ctx that ended.
func ctxErr(op string, err error) error {
	return sdk.Errorf(sdk.CodeOf(err).Sentinel(), "%s: %w", op, err)
}

// statusErr is the host side's one translation from a gRPC status back to
// the sdk's sentinels.
func statusErr(s *wire.Status) error {
	if s == nil || s.Code == "" {
		return nil
	}
	return sdk.FromCode(sdk.Code(s.Code), s.Message)
}
