package delaynet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

// guide:driver

// Name is the driver's name in its Info, and the NAME of its plugin binary
// (delaynet-plugin).
const Name = "delaynet"

// Version is the driver's version in its Info.
const Version = "0.1.0"

// Driver is the delaynet driver: the sdk.Driver contract over the host's
// TCP/IP (package net), through a simulated slow link.
//
// Ownership: the Driver owns every socket it hands out and every goroutine
// it starts: per connected socket a reader, a writer and a deliverer (see
// socket), per listener an accept loop. Close closes every socket and waits
// for those goroutines, except a deliverer that is inside a host callback
// at that moment: the driver cannot tell whether that callback is the one
// calling Close, so it does not wait for it; that goroutine raises nothing
// more and exits as soon as the callback returns.
//
// Concurrency: every method may be called from any goroutine, concurrently,
// and from inside the Events callbacks the Driver is running (Send from a
// Received, CloseSocket or Close from any event). A Driver may be opened
// again after Close; socket ids are never reused by one Driver.
type Driver struct {
	mu     sync.Mutex
	sess   *session      // nil when not open
	lastID atomic.Uint64 // the last socket id handed out
}

// New returns a Driver that is not open yet.
func New() *Driver { return &Driver{} }

// The compiler checks that Driver keeps the contract.
var _ sdk.Driver = (*Driver)(nil)

// session is the state of one Open, up to its Close.
//
// Ownership: the Driver, which replaces it at Open and drops it at Close.
// mu guards closed, used, sockets and live; a socket's own mu is taken
// after it, never before.
type session struct {
	cfg    config
	events sdk.Events
	log    hclog.Logger
	ids    *atomic.Uint64
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // readers, writers and accept loops

	mu      sync.Mutex
	closed  bool
	used    int                    // slots taken: open sockets and calls opening one
	sockets map[sdk.Socket]*socket // open sockets, listeners included
	live    map[*socket]bool       // sockets with goroutines still running
}

// guide:end

// guide:open

// Open validates the settings and starts the driver. It fails with
// ErrBadArgument for an unknown or bad setting, and ErrBusy when the driver
// is open already.
func (d *Driver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	cfg, err := parseSettings(req.Settings)
	if err != nil {
		return sdk.Info{}, err
	}
	if req.Events == nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "open %s: no Events given, pass the host's Events", Name)
	}
	log := req.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess != nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBusy, "open %s: the driver is open already, close it first", Name)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.sess = &session{
		cfg:     cfg,
		events:  req.Events,
		log:     log.With("driver", Name),
		ids:     &d.lastID,
		ctx:     sctx,
		cancel:  cancel,
		sockets: make(map[sdk.Socket]*socket),
		live:    make(map[*socket]bool),
	}
	d.sess.log.Debug("open", "interface", req.Interface, "settings", req.Settings.Redacted())
	return sdk.Info{
		Name:         Name,
		Version:      Version,
		Device:       fmt.Sprintf("host TCP/IP through a link of delay %v, rate %s", cfg.delay, rateText(cfg.rate)),
		CanListen:    true,
		MaxSockets:   cfg.maxSockets,
		CanHalfClose: true,
	}, nil
}

// guide:end

func rateText(rate int) string {
	if rate == 0 {
		return "unlimited"
	}
	return strconv.Itoa(rate) + " B/s"
}

// session returns the open session, or ErrNotOpen.
func (d *Driver) session(op string) (*session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess == nil {
		return nil, sdk.Errorf(sdk.ErrNotOpen, "%s %s", Name, op)
	}
	return d.sess, nil
}

// guide:connect

// Connect dials host:port over the host's network, after waiting one round
// trip of the simulated link (the handshake crosses it twice). Host names
// are resolved by the host's resolver. Errors: ErrBadArgument, ErrNoSockets,
// ErrRefused, ErrUnreachable, ErrNameNotResolved, ErrTimeout, ErrCanceled.
func (d *Driver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	if err := sdk.CheckConnect(req); err != nil {
		return 0, err
	}
	sess, err := d.session("connect")
	if err != nil {
		return 0, err
	}
	addr := net.JoinHostPort(req.Host, strconv.Itoa(req.Port))
	if err := sess.reserve("connect " + addr); err != nil {
		return 0, err
	}
	c, err := sess.dial(ctx, addr)
	if err != nil {
		sess.release()
		return 0, err
	}
	s := sess.newConn(c, nil)
	if err := sess.add(s); err != nil {
		return 0, err
	}
	sess.log.Debug("connected", "socket", s.id, "peer", s.peer)
	return s.id, nil
}

// dial waits for the handshake's round trip, then dials addr, within ctx;
// Close ends a dial in progress.
func (sess *session) dial(ctx context.Context, addr string) (*net.TCPConn, error) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(sess.ctx, cancel)()
	err := sleep(dctx, 2*sess.cfg.delay)
	var c net.Conn
	if err == nil {
		var dialer net.Dialer
		c, err = dialer.DialContext(dctx, "tcp", addr)
	}
	switch {
	case err == nil:
		return c.(*net.TCPConn), nil
	case sess.ctx.Err() != nil:
		return nil, sdk.Errorf(sdk.ErrNotOpen, "connect %s: the driver closed meanwhile", addr)
	}
	return nil, dialError(ctx, addr, err)
}

// guide:end

// sleep waits for d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// guide:listen

// Listen listens on the bind setting's address and req.Port (port 0: the
// host's network picks a free port, which Local reports). Each connection
// it accepts becomes a socket, announced with Events.Accepted before any of
// its data; one coming in while max_sockets sockets are open is refused
// and logged. Errors: ErrBadArgument, ErrNoSockets, ErrAddressInUse.
func (d *Driver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	if err := sdk.CheckListen(req); err != nil {
		return 0, err
	}
	sess, err := d.session("listen")
	if err != nil {
		return 0, err
	}
	addr := netip.AddrPortFrom(sess.cfg.bind, uint16(req.Port)).String()
	if err := sess.reserve("listen " + addr); err != nil {
		return 0, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		sess.release()
		return 0, listenError(ctx, addr, err)
	}
	l := sess.newListener(ln.(*net.TCPListener))
	if err := sess.add(l); err != nil {
		return 0, err
	}
	sess.log.Debug("listening", "socket", l.id, "addr", ln.Addr())
	return l.id, nil
}

// guide:end

// guide:send

// Send queues data for in-order delivery through the link and returns once
// every byte is queued: the socket's writer writes each chunk to the host's
// network when it comes out of the link. While the link's queue is full
// (the peer reads slower than the Sends come, or the rate setting holds
// them back), Send waits, until ctx is done: then it fails with ErrTimeout
// or ErrCanceled, wrapped in an sdk.PartialSend when some bytes were
// queued. Concurrent Sends on one socket take turns, so their bytes never
// interleave. data is copied, never retained.
func (d *Driver) Send(ctx context.Context, id sdk.Socket, data []byte) error {
	s, err := d.lookup("send", id)
	if err != nil {
		return err
	}
	if s.ln != nil {
		return sdk.Errorf(sdk.ErrBadArgument, "send: %v is a listener, send on a connected socket", id)
	}
	if err := s.takeTurn(ctx, "send on"); err != nil {
		return err
	}
	defer s.giveTurn()
	if err := s.writable("send"); err != nil {
		return err
	}
	chunk := s.sess.cfg.chunk()
	for sent := 0; sent < len(data); {
		n := min(len(data)-sent, chunk)
		if err := s.out.put(ctx.Done(), append([]byte(nil), data[sent:sent+n]...)); err != nil {
			err = s.sendError(ctx, "send", err)
			if sent > 0 {
				return &sdk.PartialSend{N: sent, Err: err}
			}
			return err
		}
		sent += n
	}
	return nil
}

// guide:end

// lookup returns the open socket id of the open session.
func (d *Driver) lookup(op string, id sdk.Socket) (*socket, error) {
	sess, err := d.session(op)
	if err != nil {
		return nil, err
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	s := sess.sockets[id]
	if s == nil {
		return nil, sdk.Errorf(sdk.ErrClosed, "%s: %v is not open (closed, dropped or never opened)", op, id)
	}
	return s, nil
}

// guide:closewrite

// CloseWrite half-closes s: it takes its turn after the Sends called before
// it, so their bytes cross the link first, then the peer reads EOF. s still
// receives until the peer finishes too. Errors: ErrClosed (closed, dropped
// or half-closed already), ErrBadArgument (a listener).
func (d *Driver) CloseWrite(ctx context.Context, id sdk.Socket) error {
	s, err := d.lookup("close write", id)
	if err != nil {
		return err
	}
	if s.ln != nil {
		return sdk.Errorf(sdk.ErrBadArgument, "close write: %v is a listener, half-close a connected socket", id)
	}
	if err := s.takeTurn(ctx, "close write on"); err != nil {
		return err
	}
	defer s.giveTurn()
	if err := s.writable("close write"); err != nil {
		return err
	}
	s.wrClosed = true
	s.out.mark(errFin) // the writer shuts the write side after the data
	return nil
}

// guide:end

// Peer returns the remote address of a connected socket, as the host's
// network reports it (IPv4-mapped addresses unmapped).
func (d *Driver) Peer(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	s, err := d.lookup("peer", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if s.ln != nil {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrBadArgument, "peer: %v is a listener, it has no peer", id)
	}
	return s.peer, nil
}

// Local returns the local address of a socket: a listener's address and
// port (the one the host's network picked for port 0), or a connected
// socket's own address and port.
func (d *Driver) Local(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	s, err := d.lookup("local", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return s.local, nil
}

// guide:closesocket

// CloseSocket closes s locally. It raises no Dropped, and no new event of s
// starts once it returns. The bytes of Sends that returned still cross the
// link, then the connection closes (within a linger of 10 s for a peer that
// stopped reading): the writer closes it after the last chunk. A Send
// waiting on s ends with ErrClosed. Closing a listener leaves the sockets
// it accepted open. Closing a socket that is unknown, closed or dropped is
// ErrClosed.
func (d *Driver) CloseSocket(ctx context.Context, id sdk.Socket) error {
	s, err := d.lookup("close", id)
	if err != nil {
		return err
	}
	if !s.markClosed() {
		return sdk.Errorf(sdk.ErrClosed, "close: %v is closed already", id)
	}
	s.sess.forget(s)
	if s.ln != nil {
		s.ln.Close()
	} else {
		s.in.close() // nothing more is delivered
		s.conn.SetWriteDeadline(time.Now().Add(linger + s.sess.cfg.delay))
		s.out.mark(errLocalClose) // the writer closes the connection after the data
	}
	s.sess.log.Debug("closed", "socket", id)
	return nil
}

// guide:end

// guide:close

// Close closes every socket without Dropped events, and waits, within ctx,
// for the goroutines of the driver to exit (see Driver). Closing a closed
// driver returns nil.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	sess := d.sess
	d.sess = nil
	d.mu.Unlock()
	if sess == nil {
		return nil
	}
	sess.mu.Lock()
	sess.closed = true
	socks := make([]*socket, 0, len(sess.live))
	for s := range sess.live {
		socks = append(socks, s)
	}
	clear(sess.sockets)
	sess.used = 0
	sess.mu.Unlock()
	sess.cancel()

	var wait []chan struct{}
	for _, s := range socks {
		s.markClosed()
		s.abort()
		if w := s.delivererToWait(); w != nil {
			wait = append(wait, w)
		}
	}
	others := make(chan struct{})
	go func() { sess.wg.Wait(); close(others) }()
	wait = append(wait, others)
	for _, w := range wait {
		select {
		case <-w:
		case <-ctx.Done():
			return sdk.Errorf(sdk.ErrTimeout, "close %s: goroutines still running: %w", Name, ctx.Err())
		}
	}
	sess.log.Debug("closed driver", "sockets", len(socks))
	return nil
}

// guide:end

// reserve takes one socket slot, or fails with ErrNoSockets at once.
func (sess *session) reserve(op string) error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		return sdk.Errorf(sdk.ErrNotOpen, "%s", op)
	}
	if sess.used >= sess.cfg.maxSockets {
		return sdk.Errorf(sdk.ErrNoSockets, "%s: all %d sockets (max_sockets) are in use", op, sess.cfg.maxSockets)
	}
	sess.used++
	return nil
}

// release gives back a slot that reserve took and no socket used.
func (sess *session) release() {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if !sess.closed {
		sess.used--
	}
}

// add makes s open, on the slot reserve took, and starts its goroutines.
// If the driver closed meanwhile, s is closed instead, and add fails with
// ErrNotOpen.
func (sess *session) add(s *socket) error {
	sess.mu.Lock()
	if sess.closed {
		sess.mu.Unlock()
		s.abort()
		return sdk.Errorf(sdk.ErrNotOpen, "%s: the driver closed meanwhile", Name)
	}
	sess.sockets[s.id] = s
	// Counted under mu, so that Close, once it set closed, waits for
	// every goroutine a socket will ever start.
	all, inWG := s.goroutines()
	sess.live[s] = true
	s.live = all
	sess.wg.Add(inWG)
	sess.mu.Unlock()
	s.start()
	return nil
}

// forget frees the slot of s, closed or dropped. Its goroutines may still
// run a moment (a writer delivering the last chunks): s stays live.
func (sess *session) forget(s *socket) {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.sockets[s.id] == s {
		delete(sess.sockets, s.id)
		sess.used--
	}
}

// nextID hands out a socket id, never zero, never reused.
func (sess *session) nextID() sdk.Socket { return sdk.Socket(sess.ids.Add(1)) }
