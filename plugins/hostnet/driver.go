package hostnet

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

const driverName = "hostnet"

// Version is the version of this driver, reported in [sdk.Info].
const Version = "0.1.0"

// Driver is the hostnet driver: the [sdk.Driver] contract over the host
// operating system's TCP/IP stack (package net).
//
// Ownership: the Driver owns every socket it opens and every goroutine it
// starts (one reader per connected socket, one accept loop per listener);
// Close closes all of them and waits for those goroutines. A reader whose
// peer finished sending (Events.Finished) stays, without reading, until its
// socket is closed: such a socket keeps its slot until the host's
// CloseSocket, as a TCP socket in CLOSE_WAIT keeps its descriptor.
//
// Concurrency: every method may be called from any goroutine, concurrently,
// and from inside the Events callbacks the Driver is running. A Driver may be
// opened again after Close; socket ids are never reused by one Driver.
type Driver struct {
	mu   sync.Mutex
	sess *session      // nil when not open
	ids  atomic.Uint64 // last socket id handed out; ids are never reused
}

// New returns a Driver that is not open yet.
func New() *Driver { return &Driver{} }

var _ sdk.Driver = (*Driver)(nil)

// session is the state of one Open, up to its Close.
type session struct {
	cfg    config
	events sdk.Events
	log    hclog.Logger
	ctx    context.Context // canceled by Close: ends dials and accept back-offs
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the session started
	ids    *atomic.Uint64

	mu      sync.Mutex
	closed  bool
	used    int // sockets open or being opened, listeners included
	sockets map[sdk.Socket]*socket
}

// Open validates the settings and starts the driver. It fails with
// ErrBadArgument for a bad or unknown setting and ErrBusy when the driver is
// already open.
func (d *Driver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	cfg, err := parseSettings(req.Settings)
	if err != nil {
		return sdk.Info{}, err
	}
	if req.Events == nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBadArgument, "open %s: no Events to report to, pass the host's Events", driverName)
	}
	log := req.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess != nil {
		return sdk.Info{}, sdk.Errorf(sdk.ErrBusy, "open %s: the driver is already open, close it first", driverName)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.sess = &session{
		cfg:     cfg,
		events:  req.Events,
		log:     log.With("driver", driverName),
		ctx:     sctx,
		cancel:  cancel,
		ids:     &d.ids,
		sockets: make(map[sdk.Socket]*socket),
	}
	d.sess.log.Debug("open", "interface", req.Interface, "settings", req.Settings.Redacted())
	return sdk.Info{
		Name:         driverName,
		Version:      Version,
		Device:       runtime.GOOS + " host network",
		CanListen:    true,
		MaxListeners: 0,
		MaxSockets:   cfg.maxSockets,
		MaxWrite:     0,
		CanHalfClose: true,
	}, nil
}

// session returns the open session, or ErrNotOpen.
func (d *Driver) session(op string) (*session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess == nil {
		return nil, sdk.Errorf(sdk.ErrNotOpen, "%s", op)
	}
	return d.sess, nil
}

// Connect opens a TCP connection to req.Host:req.Port. Host names are
// resolved by the host's resolver within ctx; names under the reserved
// .invalid domain (RFC 6761) fail at once. The dial gives up after the
// connect_timeout setting or when ctx is done, whichever comes first.
func (d *Driver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	if err := sdk.CheckConnect(req); err != nil {
		return 0, err
	}
	sess, err := d.session("connect")
	if err != nil {
		return 0, err
	}
	host := strings.TrimSuffix(strings.TrimPrefix(req.Host, "["), "]")
	addr := net.JoinHostPort(host, strconv.Itoa(req.Port))
	if isReservedInvalid(host) {
		return 0, sdk.Errorf(sdk.ErrNameNotResolved, "connect %s: names under .invalid never resolve (RFC 6761)", addr)
	}
	if err := ctx.Err(); err != nil {
		return 0, mapConnectError(ctx, addr, err)
	}
	if err := sess.reserve("connect " + addr); err != nil {
		return 0, err
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(sess.ctx, cancel)()
	dialer := net.Dialer{Timeout: sess.cfg.connectTimeout, KeepAlive: sess.cfg.keepalive}
	c, err := dialer.DialContext(dctx, "tcp", addr)
	if err != nil {
		sess.release()
		if sess.ctx.Err() != nil {
			return 0, sdk.Errorf(sdk.ErrNotOpen, "connect %s: the driver closed meanwhile", addr)
		}
		return 0, mapConnectError(ctx, addr, err)
	}
	s := sess.newConn(c.(*net.TCPConn))
	if err := sess.add(s); err != nil {
		return 0, err
	}
	sess.log.Debug("connected", "socket", s.id, "addr", addr, "peer", s.peer)
	return s.id, nil
}

func isReservedInvalid(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "invalid" || strings.HasSuffix(h, ".invalid")
}

// Listen opens a listening socket on the bind setting's address (127.0.0.1
// unless the user chose otherwise) and req.Port; port 0 lets the OS pick a
// free port, which Local reports. Several listeners may be
// open at once. Each accepted connection becomes a new socket, announced with
// Events.Accepted before any of its data. Connections accepted while
// max_sockets sockets are open are refused (closed at once) and logged.
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
	lc := net.ListenConfig{KeepAlive: sess.cfg.keepalive}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		sess.release()
		return 0, mapListenError(ctx, addr, err)
	}
	l := sess.newListener(ln.(*net.TCPListener))
	if err := sess.add(l); err != nil {
		return 0, err
	}
	sess.log.Debug("listening", "socket", l.id, "addr", ln.Addr())
	return l.id, nil
}

// Send writes all of data to s, in order, and returns nil once the host's
// TCP stack has taken every byte. Concurrent Sends on one socket never
// interleave their bytes: they take turns (with CloseWrite too). Send blocks
// while the peer does not read (TCP flow control) until ctx is done: it then
// fails with ErrTimeout or ErrCanceled, and some of data may have been sent,
// so the socket should be closed. data is not retained.
//
// Sending after the peer finished (Events.Finished) is allowed; after a
// local CloseWrite it is ErrClosed. A peer that closed fully answers with a
// reset: Send fails with ErrReset, and the socket is then Dropped.
func (d *Driver) Send(ctx context.Context, id sdk.Socket, data []byte) error {
	sess, err := d.session("send")
	if err != nil {
		return err
	}
	s, err := sess.lookup("send", id)
	if err != nil {
		return err
	}
	return s.send(ctx, data)
}

// Peer returns the remote address and port of a connected socket exactly as
// the OS reports them, with IPv4-mapped IPv6 addresses unmapped.
func (d *Driver) Peer(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	sess, err := d.session("peer")
	if err != nil {
		return netip.AddrPort{}, err
	}
	s, err := sess.lookup("peer", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if s.ln != nil {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrBadArgument, "peer: %s is a listener, it has no peer", id)
	}
	return s.peer, nil
}

// Local returns the local address and port of a socket exactly as the OS
// reports them (the port it picked for a Listen on port 0, a listener bound
// to every address reporting the unspecified one), IPv4-mapped addresses
// unmapped.
func (d *Driver) Local(ctx context.Context, id sdk.Socket) (netip.AddrPort, error) {
	sess, err := d.session("local address")
	if err != nil {
		return netip.AddrPort{}, err
	}
	s, err := sess.lookup("local address", id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	var a net.Addr
	if s.ln != nil {
		a = s.ln.Addr()
	} else {
		a = s.conn.LocalAddr()
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrInternal, "local address of %s: the OS gave %v", id, a)
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// CloseWrite half-closes s (shutdown of the write side): it takes its turn
// after the Sends called before it, so their bytes go first, then the peer
// reads EOF. s still receives, and Finished comes when the peer finishes
// too; the host closes s with CloseSocket in the end. Waiting for the turn
// honours ctx (ErrTimeout, ErrCanceled). Errors: ErrClosed (closed, dropped
// or already half-closed), ErrBadArgument (a listener).
func (d *Driver) CloseWrite(ctx context.Context, id sdk.Socket) error {
	sess, err := d.session("close write")
	if err != nil {
		return err
	}
	s, err := sess.lookup("close write", id)
	if err != nil {
		return err
	}
	return s.closeWrite(ctx)
}

// CloseSocket closes a socket locally, as TCP's close does: the bytes of
// Sends that returned are still delivered by the OS, then the peer reads
// EOF (unless data the host never read is left in the socket: then the OS
// resets the connection, as for any TCP close). It raises no Dropped event;
// once it returns, no new event of that socket starts (a callback already
// running, such as the one calling CloseSocket, finishes normally). A Send
// blocked on s ends with ErrClosed. Closing a listener does not close the
// sockets it accepted. Closing a socket that is unknown, closed or already
// dropped is ErrClosed.
func (d *Driver) CloseSocket(ctx context.Context, id sdk.Socket) error {
	sess, err := d.session("close socket")
	if err != nil {
		return err
	}
	s, err := sess.lookup("close", id)
	if err != nil {
		return err
	}
	if !sess.remove(s) {
		return sdk.Errorf(sdk.ErrClosed, "close: %s is already closed", id)
	}
	s.closeOS()
	sess.log.Debug("closed", "socket", id)
	return nil
}

// Close closes every socket, without Dropped events, and waits for every
// goroutine the driver started, or until ctx is done (ErrTimeout): a reader
// blocked in Events.Received returns only when the host lets it. Close is
// idempotent: closing a closed driver returns nil.
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
	socks := make([]*socket, 0, len(sess.sockets))
	for _, s := range sess.sockets {
		// Every socket is marked closed before any is closed in the OS: a
		// socket connected to another of this driver's sockets must not
		// take the other's close for a drop.
		if s.markClosed() {
			socks = append(socks, s)
		}
	}
	clear(sess.sockets)
	sess.used = 0
	sess.mu.Unlock()
	sess.cancel()
	for _, s := range socks {
		s.closeOS()
	}
	done := make(chan struct{})
	go func() { sess.wg.Wait(); close(done) }()
	select {
	case <-done:
		sess.log.Debug("closed driver", "sockets", len(socks))
		return nil
	case <-ctx.Done():
		sess.log.Warn("close: goroutines still running, a reader may be blocked in Events.Received")
		return sdk.Errorf(sdk.ErrTimeout, "close %s: readers still blocked in Events.Received: %w", driverName, ctx.Err())
	}
}

// reserve takes one socket slot, or fails with ErrNoSockets.
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

// release gives back a slot taken by reserve and not used.
func (sess *session) release() {
	sess.mu.Lock()
	if !sess.closed {
		sess.used--
	}
	sess.mu.Unlock()
}

// add registers s, whose slot was reserved, and starts its goroutine. When
// the driver closed meanwhile it closes s and fails with ErrNotOpen.
func (sess *session) add(s *socket) error {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.closed {
		s.closeOS()
		return sdk.Errorf(sdk.ErrNotOpen, "%s: the driver closed meanwhile", s.id)
	}
	sess.sockets[s.id] = s
	if s.ln != nil {
		sess.wg.Go(s.accept)
	} else {
		sess.wg.Go(s.read)
	}
	return nil
}

// lookup returns the open socket id, or ErrClosed.
func (sess *session) lookup(op string, id sdk.Socket) (*socket, error) {
	sess.mu.Lock()
	s := sess.sockets[id]
	sess.mu.Unlock()
	if s == nil {
		return nil, sdk.Errorf(sdk.ErrClosed, "%s: %s is not open", op, id)
	}
	return s, nil
}

// remove marks s closed and frees its slot. Exactly one caller (a local
// close, a drop or Close) gets true.
func (sess *session) remove(s *socket) bool {
	if !s.markClosed() {
		return false
	}
	sess.mu.Lock()
	if sess.sockets[s.id] == s {
		delete(sess.sockets, s.id)
		sess.used--
	}
	sess.mu.Unlock()
	return true
}

// backoff waits d or until the session closes; it reports whether to go on.
func (sess *session) backoff(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-sess.ctx.Done():
		return false
	}
}

// nextID returns a socket id never used before by this Driver.
func (sess *session) nextID() sdk.Socket { return sdk.Socket(sess.ids.Add(1)) }
