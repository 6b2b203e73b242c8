package remote

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/internal/idset"
	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// server is the plugin side of the protocol: it serves one Driver to one
// host. It is the driver's sdk.Events (see pluginEvents), runs the host's
// calls, and runs each socket's writes and closes in order on the socket's
// lane.
//
// Ownership: the server owns the data path's reader, the call goroutines
// and the lanes; closeDriver stops them and closes the driver.
type server struct {
	wire.UnimplementedDriverServer

	driver sdk.Driver
	logger hclog.Logger
	ctx    context.Context // canceled when the driver closes: ends writes and calls
	cancel context.CancelFunc

	mu         sync.Mutex
	window     int64           // receive credit of a new socket
	connWindow int64           // receive credit all sockets share, in cost units; 0: none
	connAvail  int64           // what is left of it
	connWait   []*pluginSocket // sockets waiting for shared credit
	sendWindow int64           // send credit the host gives each socket (sendWindowOf)
	syncSend   bool            // the host waits for every write's fTaken
	socks      map[sdk.Socket]*pluginSocket
	ended      idset.Set
	calls      map[uint64]context.CancelFunc
	pending    int           // operations on lanes, queued or running
	idle       chan struct{} // closed when pending falls to zero
	out        *batchWriter  // nil until the data path is up
	opened     bool
	closed     bool
	dataOpened bool
	done       chan struct{} // closed with closed: wakes Received waiting for credit
	work       sync.WaitGroup
}

// pluginSocket is the plugin's state of one socket. Fields up to ops are
// guarded by server.mu; the rest belong to the socket's lane.
type pluginSocket struct {
	id    sdk.Socket
	avail int64         // receive credit left
	gone  bool          // ended: a Received waiting for credit returns
	wake  chan struct{} // one slot: credit came or the socket ended; made by the first wait
	ops   lane[writeOp]
	write func(writeOp) bool // runs one operation of the lane (server.write)

	ctx    context.Context    // ends a blocked write when the socket closes (set with write)
	cancel context.CancelFunc // nil until the first write
	linger *time.Timer        // set before the close is queued: ends queued writes
	taken  int64              // bytes the driver took since the last fTaken
	failed bool               // a write failed: the rest are dropped

	busy    bool   // a write runs (guarded by server.mu)
	dropped []byte // the drop to send once that write ended (server.mu)
}

type writeKind uint8

const (
	opWrite writeKind = iota
	opCloseWrite
	opClose
)

type writeOp struct {
	kind writeKind
	data []byte
	buf  *[]byte // data's pooled buffer, if any
}

// linger bounds how long a closed socket's queued writes may still take
// before the driver closes it anyway (a peer that stopped reading).
const linger = 10 * time.Second

// chunkPool holds the buffers of large writes, as they come off the data
// path and until the driver took them.
var chunkPool = sync.Pool{New: func() any { b := make([]byte, wire.MaxChunk); return &b }}

// pooledFrom is the size from which a write's bytes go in a pooled buffer:
// below it, an exact allocation wastes less.
const pooledFrom = 16 << 10

func newServer(d sdk.Driver, logger hclog.Logger) *server {
	ctx, cancel := context.WithCancel(context.Background())
	return &server{
		driver: d, logger: logger, ctx: ctx, cancel: cancel,
		window: wire.DefaultWindow, sendWindow: defaultSendWindow,
		socks: make(map[sdk.Socket]*pluginSocket),
		calls: make(map[uint64]context.CancelFunc),
		done:  make(chan struct{}),
	}
}

// Open implements the gRPC service: it opens the driver.
func (s *server) Open(ctx context.Context, req *wire.OpenRequest) (*wire.OpenResponse, error) {
	s.mu.Lock()
	if s.opened || s.closed {
		s.mu.Unlock()
		return &wire.OpenResponse{Status: wireStatus(sdk.Errorf(sdk.ErrBadArgument, "open: this driver process was opened already"))}, nil
	}
	s.opened = true
	if req.Window > 0 {
		s.window = int64(req.Window)
	}
	s.connWindow, s.connAvail = int64(req.ConnWindow), int64(req.ConnWindow)
	s.mu.Unlock()
	settings := sdk.Settings(req.Settings)
	if settings == nil {
		settings = sdk.Settings{}
	}
	info, err := s.driver.Open(ctx, sdk.OpenRequest{
		Interface: req.Interface,
		Settings:  settings,
		Events:    pluginEvents{s},
		Logger:    s.logger,
	})
	if err != nil {
		return &wire.OpenResponse{Status: wireStatus(err)}, nil
	}
	s.mu.Lock()
	s.sendWindow, s.syncSend = sendWindowOf(info)
	s.mu.Unlock()
	return &wire.OpenResponse{
		SendWindow: int32(max(min(info.SendWindow, 1<<30), -1)),
		Name:       info.Name, Version: info.Version, Device: info.Device,
		CanListen: info.CanListen, MaxListeners: uint32(info.MaxListeners),
		MaxSockets: uint32(info.MaxSockets), MaxWrite: uint32(info.MaxWrite),
		CanHalfClose: info.CanHalfClose, MaxConnections: uint32(info.MaxConnections),
	}, nil
}

// Close implements the gRPC service.
func (s *server) Close(ctx context.Context, _ *wire.Empty) (*wire.Status, error) {
	return wireStatus(s.closeDriver(ctx)), nil
}

// closeDriver closes the driver once. Waiting Receiveds and writes end
// first, so that none stays blocked on a host that will not answer.
func (s *server) closeDriver(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	opened := s.opened
	s.mu.Unlock()
	s.cancel()
	var err error
	if opened {
		err = s.driver.Close(ctx)
	}
	// Writes and calls end with s.ctx; a driver call that does not is
	// waited for a while, then left behind (the process is ending).
	waited := make(chan struct{})
	go func() { s.work.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(closeWait):
		s.logger.Warn("closing with a driver call still running", "waited", closeWait)
	}
	return err
}

// closeWait bounds how long closing the driver waits for the driver calls
// still running.
const closeWait = 5 * time.Second

// OpenData implements the gRPC service: the data path is a Unix socket in
// a fresh directory, for one connection that must present the token.
func (s *server) OpenData(ctx context.Context, _ *wire.Empty) (*wire.DataChannel, error) {
	s.mu.Lock()
	if s.dataOpened || s.closed {
		s.mu.Unlock()
		return &wire.DataChannel{Status: wireStatus(sdk.Errorf(sdk.ErrBadArgument, "open data: the data path is open already"))}, nil
	}
	s.dataOpened = true
	s.mu.Unlock()
	dir, err := newDataDir()
	if err != nil {
		return &wire.DataChannel{Status: wireStatus(sdk.Errorf(sdk.ErrInternal, "open data: %w", err))}, nil
	}
	path := filepath.Join(dir, "d")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return &wire.DataChannel{Status: wireStatus(sdk.Errorf(sdk.ErrInternal, "open data: %w", err))}, nil
	}
	token := make([]byte, tokenSize)
	_, _ = rand.Read(token)
	go s.serveData(l, dir, token)
	return &wire.DataChannel{Path: path, Token: token}, nil
}

const tokenSize = 16

// dataAcceptTimeout bounds how long the plugin waits for the host to dial
// the data path it asked for.
const dataAcceptTimeout = 10 * time.Second

// serveData accepts the host's data connection and reads it until the host
// goes away or the driver closes; then the driver closes.
func (s *server) serveData(l *net.UnixListener, dir string, token []byte) {
	_ = l.SetDeadline(time.Now().Add(dataAcceptTimeout))
	conn, err := l.Accept()
	l.Close()
	os.RemoveAll(dir)
	if err != nil {
		s.logger.Error("the host did not open the data path", "error", err)
		_ = s.closeDriver(context.Background())
		return
	}
	defer conn.Close()
	tuneDataPath(conn)
	got := make([]byte, tokenSize)
	if _, err := io.ReadFull(conn, got); err != nil || subtle.ConstantTimeCompare(got, token) != 1 {
		s.logger.Error("data path: bad or missing token; closing", "error", err)
		_ = s.closeDriver(context.Background())
		return
	}
	s.mu.Lock()
	s.out = newBatchWriter(conn, func(error) { conn.Close() })
	// Receiveds the driver raised before the data path was up waited for it.
	for _, ps := range s.socks {
		ps.wakeLocked()
	}
	s.mu.Unlock()
	go func() {
		// The driver closed (by the host's Close, or Serve ending): end the
		// session, which ends the reader below.
		<-s.done
		conn.Close()
	}()
	fr := newFrameReader(conn)
	var readers sync.WaitGroup
	ended := make(chan struct{})
	r := &relay{wg: &readers, read: func() (func(), error) { return s.readFrame(fr) }, onEnd: func(err error) {
		if err != io.EOF {
			s.logger.Debug("data path ended", "error", err)
		}
		close(ended)
	}}
	r.start()
	<-ended
	_ = s.closeDriver(context.Background())
}

// readFrame reads one frame from the host and runs it, or returns the work
// it brings for the reader to run inline (see relay).
func (s *server) readFrame(fr *frameReader) (inline func(), err error) {
	h, err := fr.next()
	if err != nil {
		return nil, err
	}
	id := sdk.Socket(h.id)
	if h.typ == fWrite {
		if h.n > wire.MaxChunk {
			return nil, violation("a write of %d bytes, over %d", h.n, wire.MaxChunk)
		}
		var op writeOp
		if h.n >= pooledFrom {
			op.buf = chunkPool.Get().(*[]byte)
			op.data, err = fr.payload(h, *op.buf)
		} else {
			op.data, err = fr.payload(h, make([]byte, h.n))
		}
		if err != nil {
			return nil, err
		}
		op.kind = opWrite
		return s.queue(id, op), nil
	}
	p, err := fr.small(h)
	if err != nil {
		return nil, err
	}
	switch h.typ {
	case fCloseWrite:
		inline = s.queue(id, writeOp{kind: opCloseWrite})
	case fClose:
		inline = s.closeSocket(id)
	case fCredit:
		n := int64(p.u32())
		s.mu.Lock()
		if id == 0 {
			// The shared window: every socket that waited for it tries again.
			s.connAvail += n
			if s.connAvail > s.connWindow {
				s.mu.Unlock()
				return nil, violation("%d of shared credit given back, more than the %d-unit window", s.connAvail, s.connWindow)
			}
			for _, ps := range s.connWait {
				ps.wakeLocked()
			}
			s.connWait = nil
		} else if ps := s.socks[id]; ps != nil {
			ps.avail += n
			ps.wakeLocked()
		}
		s.mu.Unlock()
	case fCall:
		s.startCall(h.id, &p)
	case fCancel:
		s.mu.Lock()
		if cancel := s.calls[h.id]; cancel != nil {
			cancel()
		}
		s.mu.Unlock()
	default:
		return nil, violation("the host sent a %v frame", h.typ)
	}
	if p.bad {
		return nil, violation("a short %v frame", h.typ)
	}
	return inline, nil
}

// socketLocked returns the state of s, making it the first time s is seen;
// nil once s ended.
func (s *server) socketLocked(id sdk.Socket) *pluginSocket {
	if ps := s.socks[id]; ps != nil {
		return ps
	}
	if s.ended.Has(uint64(id)) || s.closed {
		return nil
	}
	// What only writes need is made at the first write (prepareLocked):
	// an idle socket costs this struct and its map entry.
	ps := &pluginSocket{id: id, avail: s.window}
	s.socks[id] = ps
	return ps
}

// prepareLocked makes what a socket's writes need, the first time.
func (s *server) prepareLocked(ps *pluginSocket) {
	if ps.write != nil {
		return
	}
	ps.ctx, ps.cancel = context.WithCancel(s.ctx)
	ps.write = func(op writeOp) bool {
		defer s.end()
		s.mu.Lock()
		ps.busy = true
		s.mu.Unlock()
		ok := s.write(ps, op)
		s.mu.Lock()
		ps.busy = false
		drop := ps.dropped
		ps.dropped = nil
		if drop != nil && s.out != nil {
			// The drop came while this write ran: its verdict first.
			s.out.put(fDropped, uint64(ps.id), drop, nil)
		}
		s.mu.Unlock()
		if drop != nil {
			s.out.kick()
			ps.cancel()
			return false
		}
		return ok
	}
	ps.ops.drop = func(op writeOp) {
		op.release()
		s.end()
	}
}

// endLocked forgets s: a Received waiting for its credit returns ErrClosed
// and later events of s are dropped. Its lane goes on, for a close.
func (s *server) endLocked(ps *pluginSocket) {
	if s.socks[ps.id] == ps {
		delete(s.socks, ps.id)
	}
	s.ended.Add(uint64(ps.id))
	ps.gone = true
	// Woken, not closed: ps may still be on connWait, whose next credit
	// wakes it again.
	ps.wakeLocked()
}

// queue puts a write or half-close on its socket's lane, or returns the
// work for the reader to run inline when the lane is idle; those of a socket
// that ended are dropped.
func (s *server) queue(id sdk.Socket, op writeOp) (inline func()) {
	s.mu.Lock()
	ps := s.socks[id]
	s.mu.Unlock()
	return s.post(ps, op)
}

func (s *server) post(ps *pluginSocket, op writeOp) (inline func()) {
	if ps == nil {
		op.release()
		return nil
	}
	s.mu.Lock()
	s.prepareLocked(ps)
	s.mu.Unlock()
	s.begin()
	if ps.ops.claim() {
		return func() { ps.ops.release(ps.write(op), &s.work, ps.write) }
	}
	if !ps.ops.push(op, &s.work, ps.write) {
		s.end()
		op.release()
	}
	return nil
}

// begin counts an operation taken onto a lane, until end: when it ran, or
// was dropped. A drain waits for the count to fall to zero.
func (s *server) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == 0 {
		s.idle = make(chan struct{})
	}
	s.pending++
}

func (s *server) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 {
		close(s.idle)
	}
}

// drained returns a channel closed once every operation taken so far has
// run: the host's writes and closes that came before a drain call.
func (s *server) drained() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == 0 {
		return closedChan
	}
	return s.idle
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// closeSocket ends s at once for events, and closes it in the driver after
// its queued writes, within linger.
func (s *server) closeSocket(id sdk.Socket) (inline func()) {
	s.mu.Lock()
	ps := s.socks[id]
	if ps != nil {
		s.endLocked(ps)
		s.prepareLocked(ps)
	}
	s.mu.Unlock()
	if ps == nil {
		return nil
	}
	s.begin()
	if ps.ops.claim() {
		// Nothing queued before it: the close runs now, no linger needed.
		op := writeOp{kind: opClose}
		return func() { ps.ops.release(ps.write(op), &s.work, ps.write) }
	}
	ps.linger = time.AfterFunc(linger, ps.cancel)
	if !ps.ops.push(writeOp{kind: opClose}, &s.work, ps.write) {
		s.end()
		ps.linger.Stop()
	}
	return nil
}

func (op writeOp) release() {
	if op.buf != nil {
		chunkPool.Put(op.buf)
	}
}

// write runs one of a socket's operations on its lane; false stops the
// lane. Send credit goes back to the host a quarter window at a time: the
// host can never be short of credit while the lane is idle (it then has at
// least three quarters of its window).
func (s *server) write(ps *pluginSocket, op writeOp) bool {
	defer op.release()
	switch op.kind {
	case opWrite:
		if ps.failed {
			return true
		}
		if err := s.driver.Send(ps.ctx, ps.id, op.data); err != nil {
			ps.failed = true
			s.report(fFailed, ps.id, putStatus(nil, err))
			return true
		}
		ps.taken += int64(len(op.data))
		if ps.taken >= s.sendWindow/4 || s.syncSend {
			s.report(fTaken, ps.id, putU32(nil, uint32(ps.taken)))
			ps.taken = 0
		}
	case opCloseWrite:
		if ps.failed {
			return true
		}
		if err := s.driver.CloseWrite(ps.ctx, ps.id); err != nil {
			ps.failed = true
			s.report(fFailed, ps.id, putStatus(nil, err))
		}
	case opClose:
		if ps.linger != nil {
			ps.linger.Stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.driver.CloseSocket(ctx, ps.id); err != nil {
			s.logger.Debug("close", "socket", ps.id, "error", err)
		}
		ps.cancel()
		return false
	}
	return true
}

// report sends a frame about a socket to the host.
func (s *server) report(typ frameType, id sdk.Socket, payload []byte) {
	s.mu.Lock()
	out := s.out
	if out != nil {
		out.put(typ, uint64(id), payload, nil)
	}
	s.mu.Unlock()
	if out != nil {
		out.kick()
	}
}

// startCall runs a host's call on a goroutine of its own (a connect may
// take a while) and replies with its result.
func (s *server) startCall(id uint64, p *fields) {
	var drained <-chan struct{}
	op := p.u8()
	var host string
	var port int
	var sock sdk.Socket
	switch op {
	case opConnect:
		host, port = p.str(), int(p.u16())
	case opListen:
		port = int(p.u16())
	case opPeer, opLocal:
		sock = sdk.Socket(p.u64())
	case opDrain:
		// Every write and close the host sent before this call is on a
		// lane by now (the reader takes frames in order).
		drained = s.drained()
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.calls[id] = cancel
	s.work.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.work.Done()
		defer cancel()
		var err error
		var peer, local netip.AddrPort
		switch op {
		case opConnect:
			sock, err = s.driver.Connect(ctx, sdk.ConnectRequest{Host: host, Port: port})
			if err == nil {
				// The local address is asked for when the host needs it
				// (opLocal): on a device it can cost a command per connect.
				peer, _ = s.driver.Peer(ctx, sock)
			}
		case opListen:
			sock, err = s.driver.Listen(ctx, sdk.ListenRequest{Port: port})
			if err == nil {
				local, _ = s.driver.Local(ctx, sock)
			}
		case opPeer:
			peer, err = s.driver.Peer(ctx, sock)
		case opLocal:
			local, err = s.driver.Local(ctx, sock)
		case opDrain:
			select {
			case <-drained:
			case <-ctx.Done():
				err = sdk.Errorf(sdk.ErrTimeout, "drain: writes still queued: %w", ctx.Err())
			}
		default:
			err = sdk.Errorf(sdk.ErrBadArgument, "call: unknown operation %d", op)
		}
		s.mu.Lock()
		delete(s.calls, id)
		if err == nil && (op == opConnect || op == opListen) {
			s.socketLocked(sock)
		}
		reply := putAddrPort(putAddrPort(putU64(putStatus(nil, err), uint64(sock)), peer), local)
		if s.out != nil {
			s.out.put(fReply, id, reply, nil)
		}
		s.mu.Unlock()
		s.out.kick()
	}()
}

// pluginEvents is the driver's sdk.Events: each event becomes a frame to
// the host, written by whoever raises it when no one else is writing.
type pluginEvents struct{ s *server }

// Accepted implements sdk.Events.
func (e pluginEvents) Accepted(listener, sock sdk.Socket, peer netip.AddrPort) {
	s := e.s
	s.mu.Lock()
	if s.socketLocked(sock) == nil || s.out == nil {
		s.mu.Unlock()
		return
	}
	s.out.put(fAccepted, uint64(sock), putAddrPort(putU64(nil, uint64(listener)), peer), nil)
	s.mu.Unlock()
	s.out.kick()
}

// Received implements sdk.Events: the data goes out in chunks as the
// socket's credit allows, without a copy (Received owns data).
func (e pluginEvents) Received(sock sdk.Socket, data []byte) error {
	s := e.s
	for len(data) > 0 {
		s.mu.Lock()
		ps := s.socketLocked(sock)
		switch {
		case s.closed:
			s.mu.Unlock()
			return sdk.Errorf(sdk.ErrClosed, "%v: the host is gone", sock)
		case ps == nil:
			s.mu.Unlock()
			return sdk.Errorf(sdk.ErrClosed, "%v: closed by the host", sock)
		case ps.avail <= 0 || s.out == nil || s.connStarvedLocked():
			if ps.wake == nil {
				ps.wake = make(chan struct{}, 1)
			}
			if s.connStarvedLocked() {
				s.connWait = append(s.connWait, ps)
			}
			wake := ps.wake
			s.mu.Unlock()
			select {
			case <-wake:
			case <-s.done:
			}
			continue
		}
		n := int(min(int64(len(data)), ps.avail, wire.MaxChunk, max(s.window/4, 1)))
		if s.connWindow > 0 {
			n = int(min(int64(n), s.connAvail-wire.FrameCost))
			s.connAvail -= int64(n) + wire.FrameCost
		}
		ps.avail -= int64(n)
		s.out.put(fData, uint64(sock), nil, data[:n])
		s.mu.Unlock()
		s.out.kick()
		data = data[n:]
	}
	return nil
}

// Finished implements sdk.Events.
func (e pluginEvents) Finished(sock sdk.Socket) {
	s := e.s
	s.mu.Lock()
	if s.socketLocked(sock) == nil || s.out == nil {
		s.mu.Unlock()
		return
	}
	s.out.put(fFinished, uint64(sock), nil, nil)
	s.mu.Unlock()
	s.out.kick()
}

// Dropped implements sdk.Events: the socket ends here too, and its queued
// writes are dropped.
func (e pluginEvents) Dropped(sock sdk.Socket, reason error) {
	if reason == nil {
		reason = sdk.ErrPeerClosed
	}
	s := e.s
	s.mu.Lock()
	ps := s.socketLocked(sock)
	if ps == nil || s.out == nil {
		s.mu.Unlock()
		return
	}
	s.endLocked(ps)
	cancel := ps.cancel
	if ps.busy {
		// A write of ps is running: the host hears how it ended (taken or
		// failed) before the drop, so that a Send whose bytes the driver
		// took is not told they were lost. The lane sends the drop once
		// the write ends, which the driver's drop makes prompt; cancelling
		// it here could fail a write the device had finished.
		ps.dropped = putStatus(nil, reason)
		cancel = nil
	} else {
		s.out.put(fDropped, uint64(sock), putStatus(nil, reason), nil)
	}
	s.mu.Unlock()
	ps.ops.stop()
	if cancel != nil {
		cancel()
	}
	s.out.kick()
}

// wireStatus encodes an error for the gRPC replies.
func wireStatus(err error) *wire.Status {
	if err == nil {
		return nil
	}
	return &wire.Status{Code: string(sdk.CodeOf(err)), Message: err.Error()}
}

// connStarvedLocked reports whether the shared window has no room for a
// byte more.
func (s *server) connStarvedLocked() bool {
	return s.connWindow > 0 && s.connAvail <= wire.FrameCost
}

// wakeLocked wakes the Received waiting for ps's credit, if any.
func (ps *pluginSocket) wakeLocked() {
	if ps.wake != nil {
		select {
		case ps.wake <- struct{}{}:
		default:
		}
	}
}
