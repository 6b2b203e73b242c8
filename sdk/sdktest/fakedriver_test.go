package sdktest

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/ifsock/ifsock/sdk"
)

// fakeDriver is a small in-memory driver for the suite's own tests: a
// connection from the driver to its own listeners (host 127.0.0.1) joins
// two sockets whose queues carry data and the sender's end. It can
// half-close or not (halfClose), and limit its listeners (maxListeners, 1
// like an ESP8266), so the suite's cases can be run on both kinds of driver
// before the real drivers have the capability.
//
// Ownership: the driver owns one goroutine per connected socket, which
// raises all of that socket's events; it exits when the socket is closed
// locally, after its last event, or when the driver closes, and Close waits
// for it. Every event starts under mu after a check that the socket is not
// halted, so no event starts once CloseSocket or Close returned. Accepted
// runs with mu held (the suite's Accepted calls nothing back), so that none
// is still on its way when the listener's CloseSocket returns.
type fakeDriver struct {
	halfClose    bool
	maxListeners int

	mu    sync.Mutex
	state int // 0 new, 1 open, 2 closed
	ev    sdk.Events
	done  chan struct{} // closed by Close
	next  sdk.Socket
	eph   uint16
	socks map[sdk.Socket]*fakeSock
	ports map[int]*fakeSock // open listeners
	wg    sync.WaitGroup
}

const (
	fakeMaxSockets = 16
	fakeWindow     = 256 << 10 // bytes queued for a socket before its peer's Send waits
	fakeChunk      = 16 << 10  // largest piece of a Send in the queue
)

// fakeSock is one socket of fakeDriver; its fields are guarded by the
// driver's mu.
type fakeSock struct {
	id            sdk.Socket
	listener      bool
	port          int
	local, remote netip.AddrPort
	peer          *fakeSock
	from          *fakeSock // the listener that accepted it, until announced

	sendMu   sync.Mutex // one Send at a time: a Send's bytes stay together
	q        []fakeItem
	qBytes   int
	wake     chan struct{} // the queue grew (capacity 1)
	space    chan struct{} // the queue shrank (capacity 1)
	quit     chan struct{} // closed when halted
	halted   bool          // closed locally, dropped or the driver closed
	wroteEnd bool          // its end (FIN) is queued at the peer
	deaf     bool          // the host refused data: discard it
}

// fakeItem is one queued event: data, or the peer's end (data nil).
type fakeItem struct{ data []byte }

func newFakeDriver(halfClose bool, maxListeners int) *fakeDriver {
	return &fakeDriver{halfClose: halfClose, maxListeners: maxListeners}
}

var _ sdk.Driver = (*fakeDriver)(nil)

func (d *fakeDriver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	for k := range req.Settings {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "fake: unknown setting %q: it takes none", k)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != 0 {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBusy, "fake: opened twice")
	}
	d.state, d.ev, d.done = 1, req.Events, make(chan struct{})
	d.socks, d.ports, d.eph = map[sdk.Socket]*fakeSock{}, map[int]*fakeSock{}, 40000
	return sdk.Info{Name: "fake", Version: "0", CanListen: true, MaxListeners: d.maxListeners,
		MaxSockets: fakeMaxSockets, MaxWrite: fakeChunk, CanHalfClose: d.halfClose}, nil
}

// lookup returns the open socket id; d.mu must be held.
func (d *fakeDriver) lookup(op string, id sdk.Socket) (*fakeSock, error) {
	if d.state != 1 {
		return nil, sdk.Errorf(sdk.ErrNotOpen, "fake: %s", op)
	}
	if s := d.socks[id]; s != nil {
		return s, nil
	}
	return nil, sdk.Errorf(sdk.ErrClosed, "fake: %s: %v is not open", op, id)
}

func (d *fakeDriver) newSock() *fakeSock {
	d.next++
	s := &fakeSock{id: d.next, wake: make(chan struct{}, 1), space: make(chan struct{}, 1), quit: make(chan struct{})}
	d.socks[s.id] = s
	return s
}

func fakeCtxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return sdk.Errorf(sdk.ErrTimeout, "fake: %w", err)
	}
	return sdk.Errorf(sdk.ErrCanceled, "fake: %w", err)
}

func (d *fakeDriver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != 1 {
		return 0, sdk.Errorf(sdk.ErrNotOpen, "fake: connect")
	}
	if err := sdk.CheckConnect(req); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, fakeCtxErr(err)
	}
	if req.Host != "127.0.0.1" {
		return 0, sdk.Errorf(sdk.ErrUnreachable, "fake: connect: only 127.0.0.1 is reachable")
	}
	l := d.ports[req.Port]
	if l == nil {
		return 0, sdk.Errorf(sdk.ErrRefused, "fake: connect: nothing listens on port %d", req.Port)
	}
	if len(d.socks)+2 > fakeMaxSockets {
		return 0, sdk.Errorf(sdk.ErrNoSockets, "fake: connect: %d sockets open", len(d.socks))
	}
	d.eph++
	c, a := d.newSock(), d.newSock()
	c.peer, a.peer, a.from = a, c, l
	a.local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(req.Port))
	c.local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), d.eph)
	c.remote, a.remote = a.local, c.local
	for _, s := range []*fakeSock{c, a} {
		d.wg.Add(1)
		go d.run(s)
	}
	return c.id, nil
}

func (d *fakeDriver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != 1 {
		return 0, sdk.Errorf(sdk.ErrNotOpen, "fake: listen")
	}
	if err := sdk.CheckListen(req); err != nil {
		return 0, err
	}
	port := req.Port
	if port == 0 {
		// Pick a free port (rule 12), from the ephemeral range as a
		// host stack does.
		for port = 49152; d.ports[port] != nil; port++ {
		}
	}
	if d.ports[port] != nil {
		return 0, sdk.Errorf(sdk.ErrAddressInUse, "fake: listen: port %d is in use", port)
	}
	if d.maxListeners > 0 && len(d.ports) >= d.maxListeners {
		return 0, sdk.Errorf(sdk.ErrUnsupported, "fake: listen: %d listener(s) at most", d.maxListeners)
	}
	if len(d.socks) >= fakeMaxSockets {
		return 0, sdk.Errorf(sdk.ErrNoSockets, "fake: listen: %d sockets open", len(d.socks))
	}
	l := d.newSock()
	l.listener, l.port = true, port
	d.ports[port] = l
	return l.id, nil
}

func (d *fakeDriver) Send(ctx context.Context, id sdk.Socket, data []byte) error {
	d.mu.Lock()
	s, err := d.lookup("send", id)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if s.listener {
		return sdk.Errorf(sdk.ErrBadArgument, "fake: send on a listener")
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for len(data) > 0 {
		d.mu.Lock()
		switch {
		case d.state != 1:
			d.mu.Unlock()
			return sdk.Errorf(sdk.ErrNotOpen, "fake: send")
		case s.halted || s.wroteEnd:
			d.mu.Unlock()
			return sdk.Errorf(sdk.ErrClosed, "fake: send: %v is closed or half-closed", id)
		case s.peer.halted:
			d.mu.Unlock()
			return sdk.Errorf(sdk.ErrReset, "fake: send: the peer closed")
		}
		p := s.peer
		if p.qBytes < fakeWindow {
			n := min(len(data), fakeChunk)
			p.push(fakeItem{data: append([]byte(nil), data[:n]...)})
			data = data[n:]
			d.mu.Unlock()
			continue
		}
		d.mu.Unlock()
		select {
		case <-p.space:
		case <-p.quit:
		case <-s.quit:
		case <-d.done:
		case <-ctx.Done():
			return fakeCtxErr(ctx.Err())
		}
	}
	return nil
}

// push queues an item for s; d.mu must be held.
func (s *fakeSock) push(it fakeItem) {
	s.q = append(s.q, it)
	s.qBytes += len(it.data)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// end queues s's end at its peer, once; d.mu must be held.
func (s *fakeSock) end() {
	if s.wroteEnd || s.peer == nil {
		return
	}
	s.wroteEnd = true
	s.peer.push(fakeItem{})
}

// halt stops s for good; d.mu must be held.
func (d *fakeDriver) halt(s *fakeSock) {
	if s.halted {
		return
	}
	s.halted = true
	close(s.quit)
	delete(d.socks, s.id)
	if s.listener && d.ports[s.port] == s {
		delete(d.ports, s.port)
	}
}

func (d *fakeDriver) CloseWrite(ctx context.Context, id sdk.Socket) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("close write", id)
	switch {
	case err != nil:
		return err
	case s.listener:
		return sdk.Errorf(sdk.ErrBadArgument, "fake: close write on a listener")
	case !d.halfClose:
		return sdk.Errorf(sdk.ErrUnsupported, "fake: close write: this fake does not half-close")
	case s.wroteEnd:
		return sdk.Errorf(sdk.ErrClosed, "fake: close write: %v is already half-closed", id)
	}
	s.end()
	return nil
}

func (d *fakeDriver) Peer(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("peer", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if s.listener {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrBadArgument, "fake: a listener has no peer")
	}
	return s.remote, nil
}

func (d *fakeDriver) Local(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("local", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if s.listener {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(s.port)), nil
	}
	return s.local, nil
}

func (d *fakeDriver) CloseSocket(ctx context.Context, id sdk.Socket) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("close", id)
	if err != nil {
		return err
	}
	d.halt(s)
	if s.peer != nil && !s.peer.halted {
		s.end()
	}
	return nil
}

func (d *fakeDriver) Close(ctx context.Context) error {
	d.mu.Lock()
	if d.state != 1 {
		d.mu.Unlock()
		return nil
	}
	d.state = 2
	close(d.done)
	for _, s := range d.socks {
		d.halt(s)
	}
	d.mu.Unlock()
	waited := make(chan struct{})
	go func() { d.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		return nil
	case <-ctx.Done():
		return fakeCtxErr(ctx.Err())
	}
}

// run is a connected socket's goroutine: Accepted for an accepted socket,
// then its queue in order, ending with Finished, or Dropped(ErrPeerClosed)
// when the driver cannot half-close.
func (d *fakeDriver) run(s *fakeSock) {
	defer d.wg.Done()
	d.mu.Lock()
	if l := s.from; l != nil {
		if s.halted || l.halted {
			d.mu.Unlock()
			return
		}
		// Under mu, so that no Accepted naming l is still on its way once
		// CloseSocket(l) returned: the suite's Accepted never calls back.
		d.ev.Accepted(l.id, s.id, s.remote)
	}
	for {
		for len(s.q) == 0 && !s.halted {
			d.mu.Unlock()
			select {
			case <-s.wake:
			case <-s.quit:
			}
			d.mu.Lock()
		}
		if s.halted {
			d.mu.Unlock()
			return
		}
		it := s.q[0]
		s.q = s.q[1:]
		s.qBytes -= len(it.data)
		select {
		case s.space <- struct{}{}:
		default:
		}
		if it.data == nil {
			if !d.halfClose {
				d.halt(s)
			}
			d.mu.Unlock()
			if d.halfClose {
				d.ev.Finished(s.id)
			} else {
				d.ev.Dropped(s.id, sdk.Errorf(sdk.ErrPeerClosed, "fake: the peer closed"))
			}
			return
		}
		if s.deaf {
			continue
		}
		d.mu.Unlock()
		err := d.ev.Received(s.id, it.data)
		d.mu.Lock()
		if err != nil {
			s.deaf = true
		}
	}
}
