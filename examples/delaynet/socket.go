package delaynet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// Sizes and times of the data path.
const (
	maxChunk  = 32 << 10         // the largest chunk a Send queues, or a read takes
	lineLimit = 256 << 10        // bytes each direction of a socket's link holds
	linger    = 10 * time.Second // how long a closed socket's last bytes may take
)

// Markers that end a line (see chunk).
var (
	errFin        = errors.New("fin")         // out: shut the write side; in: the peer's FIN
	errLocalClose = errors.New("local close") // out: close the connection
)

// guide:socket

// socket is one socket of a session: a connection (conn set) or a
// listener (ln set).
//
// Ownership: the session owns it. A connection has three goroutines:
//
//   - the reader reads the host's network and puts what it reads into in,
//     the peer-to-host direction of the link; it stops reading while in is
//     full, which holds the peer back (TCP's own flow control);
//   - the deliverer gets chunks from in as they come out of the link and
//     raises every event of the socket, one at a time and in order: Accepted
//     first for an accepted socket, Received, then Finished or Dropped;
//   - the writer gets the chunks that Sends put into out, the host-to-peer
//     direction, and writes them to the host's network.
//
// A listener has one goroutine, its accept loop, which raises the
// listener's Dropped if it breaks. closed is set once, by exactly one of
// CloseSocket, Close and a drop (markClosed); no event of the socket starts
// after it is set.
type socket struct {
	id    sdk.Socket
	sess  *session
	conn  *net.TCPConn     // a connection's
	ln    *net.TCPListener // a listener's
	from  *socket          // the listener that accepted it, if any
	peer  netip.AddrPort
	local netip.AddrPort

	in, out *line

	// turn is a one-slot semaphore: Sends and CloseWrite take turns, so
	// the bytes of one Send stay together. wrClosed is only used holding it.
	turn     chan struct{}
	wrClosed bool

	mu        sync.Mutex
	closed    bool          // see markClosed
	inEvent   bool          // the deliverer (or accept loop) is inside a host callback
	failure   error         // why a write failed: the reason of the drop
	gone      chan struct{} // closed with closed
	broken    chan struct{} // closed with failure
	delivered chan struct{} // closed when the deliverer (or accept loop) exits

	live int // goroutines of s still running; session.mu guards it
}

// guide:end

func (sess *session) newConn(c *net.TCPConn, from *socket) *socket {
	cfg := sess.cfg
	return &socket{
		id: sess.nextID(), sess: sess, conn: c, from: from,
		peer:      addrPort(c.RemoteAddr()),
		local:     addrPort(c.LocalAddr()),
		in:        newLine(cfg.delay, cfg.rate, lineLimit),
		out:       newLine(cfg.delay, cfg.rate, lineLimit),
		turn:      make(chan struct{}, 1),
		gone:      make(chan struct{}),
		broken:    make(chan struct{}),
		delivered: make(chan struct{}),
	}
}

func (sess *session) newListener(ln *net.TCPListener) *socket {
	return &socket{
		id: sess.nextID(), sess: sess, ln: ln,
		local:     addrPort(ln.Addr()),
		gone:      make(chan struct{}),
		delivered: make(chan struct{}),
	}
}

// chunk is the largest chunk of the link: maxChunk, or about 20 ms of data
// at the rate setting (1 KiB at least), so that a slow link releases data
// smoothly rather than in bursts.
func (c config) chunk() int {
	if c.rate == 0 {
		return maxChunk
	}
	return min(max(c.rate/50, 1<<10), maxChunk)
}

// addrPort is a as a netip.AddrPort, IPv4-mapped IPv6 addresses unmapped.
func addrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// start starts the goroutines of s (see socket), which session.add counted.
func (s *socket) start() {
	wg := &s.sess.wg
	if s.ln != nil {
		go func() { defer s.exit(); defer close(s.delivered); s.accept() }()
		return
	}
	go func() { defer wg.Done(); defer s.exit(); s.read() }()
	go func() { defer wg.Done(); defer s.exit(); s.write() }()
	go func() { defer s.exit(); defer close(s.delivered); s.deliver() }()
}

// goroutines is how many goroutines start starts, and how many of them
// session.wg counts: all but the one raising the socket's events (a
// connection's deliverer, a listener's accept loop), which Close waits for
// apart (see delivererToWait).
func (s *socket) goroutines() (all, inWG int) {
	if s.ln != nil {
		return 1, 0
	}
	return 3, 2
}

// exit is the end of one goroutine of s.
func (s *socket) exit() {
	s.sess.mu.Lock()
	defer s.sess.mu.Unlock()
	if s.live--; s.live == 0 {
		delete(s.sess.live, s)
	}
}

// markClosed sets closed: no event of s starts any more. Exactly one
// caller gets true.
func (s *socket) markClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	close(s.gone)
	return true
}

// abort stops s at once: both directions of its link are dropped and the
// connection or listener is closed, which ends its goroutines.
func (s *socket) abort() {
	if s.ln != nil {
		s.ln.Close()
		return
	}
	s.in.close()
	s.out.close()
	s.conn.Close()
}

// delivererToWait is what Close waits for besides session.wg: the exit of
// the goroutine raising the socket's events, unless it is inside a host
// callback (which may be the one calling Close).
func (s *socket) delivererToWait() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inEvent {
		return nil
	}
	return s.delivered
}

// guide:read

// read is the reader: it reads the host's network into chunks and puts them
// into the link, waiting while the link is full. The peer's FIN ends the
// link with errFin, an error with the reason of the drop.
func (s *socket) read() {
	buf := make([]byte, s.sess.cfg.chunk())
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			// in takes ownership of the chunk: copy it out of buf.
			if s.in.put(nil, append([]byte(nil), buf[:n]...)) != nil {
				return // closed: nothing more is wanted
			}
		}
		if errors.Is(err, io.EOF) {
			s.in.mark(errFin)
			return
		}
		if err != nil {
			s.in.mark(s.dropReason(err))
			return
		}
	}
}

// guide:end

// guide:deliver

// deliver is the deliverer, the only goroutine that raises the socket's
// events, so they come one at a time and in order (rule 2). Received
// blocks while the host's window for the socket is full: the deliverer
// waits, the link fills up, and the reader stops reading (rule 6).
func (s *socket) deliver() {
	ev := s.sess.events
	if s.from != nil && !s.announce() {
		return
	}
	for {
		c, ok := s.in.get()
		if !ok {
			return // closed locally, dropped, or the driver closed
		}
		switch c.end {
		case nil:
			var err error
			if !s.event(func() { err = ev.Received(s.id, c.data) }) {
				return
			}
			if err != nil {
				// The host wants no more data: stop reading. The socket
				// keeps its slot until the host closes it.
				s.sess.log.Debug("host stopped receiving", "socket", s.id, "error", err)
				s.in.close()
				return
			}
		case errFin:
			if !s.event(func() { ev.Finished(s.id) }) {
				return
			}
			s.afterFinished()
			return
		default:
			s.drop(c.end)
			return
		}
	}
}

// event raises one event of s unless s is closed. The check and the mark
// inEvent are one step under s.mu, so CloseSocket and Close see either a
// closed socket or an event that had started. It reports whether it ran.
func (s *socket) event(raise func()) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.inEvent = true
	s.mu.Unlock()
	raise()
	s.mu.Lock()
	s.inEvent = false
	s.mu.Unlock()
	return true
}

// announce raises Accepted for an accepted socket, unless its listener was
// closed first: then nobody owns the socket, and it is closed quietly.
func (s *socket) announce() bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if s.from.isClosed() {
		s.mu.Unlock()
		if s.markClosed() {
			s.sess.forget(s)
			s.abort()
		}
		return false
	}
	s.inEvent = true
	s.mu.Unlock()
	s.sess.events.Accepted(s.from.id, s.id, s.peer)
	s.mu.Lock()
	s.inEvent = false
	s.mu.Unlock()
	return true
}

// guide:end

func (s *socket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// guide:finished

// afterFinished keeps a socket whose peer finished sending open and
// writable (rule 11) until the host closes it, the driver closes, or a
// write finds the connection broken: that is the socket's Dropped.
func (s *socket) afterFinished() {
	select {
	case <-s.broken:
		s.drop(s.failure)
	case <-s.gone:
	case <-s.sess.ctx.Done():
	}
}

// drop ends s for a reason other than a local close: it frees the slot,
// raises its one Dropped and stops s, unless s was closed meanwhile. Only
// the goroutine raising the socket's events calls it.
func (s *socket) drop(reason error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed, s.inEvent = true, true
	close(s.gone)
	s.mu.Unlock()
	s.sess.forget(s)
	s.sess.log.Debug("dropped", "socket", s.id, "reason", reason)
	s.sess.events.Dropped(s.id, reason)
	s.abort()
	s.mu.Lock()
	s.inEvent = false
	s.mu.Unlock()
}

// guide:end

// guide:write

// write is the writer: it writes each chunk to the host's network when it
// comes out of the link, shuts the write side at errFin (CloseWrite), and
// closes the connection at errLocalClose (CloseSocket), after the data.
func (s *socket) write() {
	for {
		c, ok := s.out.get()
		if !ok {
			return // dropped, or the driver closed
		}
		var err error
		switch c.end {
		case nil:
			_, err = s.conn.Write(c.data)
		case errFin:
			err = s.conn.CloseWrite()
		case errLocalClose:
			s.conn.Close()
			return
		}
		if err != nil {
			s.fail(err)
			return
		}
	}
}

// fail records why a write failed and breaks the connection: the reader's
// read fails too, and the deliverer raises Dropped with this reason after
// the data already received (or at once, after Finished). Later Sends fail
// with it. A socket closed locally has no one to tell: it is just closed.
func (s *socket) fail(err error) {
	s.mu.Lock()
	if !s.closed && s.failure == nil {
		s.failure = dropReason(err, "send on "+s.id.String())
		close(s.broken)
	}
	s.mu.Unlock()
	s.out.close()
	s.conn.Close()
}

// guide:end

// dropReason is the reason of a drop after a read error: the write failure
// that broke the connection, if any, else err mapped to the vocabulary.
func (s *socket) dropReason(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failure != nil {
		return s.failure
	}
	return dropReason(err, "receive on "+s.id.String())
}

// takeTurn waits for the turn of s among Sends and CloseWrite, within ctx.
// A CloseSocket meanwhile ends the wait with ErrClosed.
func (s *socket) takeTurn(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return ctxError(op+" "+s.id.String(), err)
	}
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-s.gone:
		return sdk.Errorf(sdk.ErrClosed, "%s %v: it was closed", op, s.id)
	case <-ctx.Done():
		return ctxError(op+" "+s.id.String(), ctx.Err())
	}
}

func (s *socket) giveTurn() { <-s.turn }

// writable fails when s takes no more data: closed, half-closed or broken.
// The caller holds the turn.
func (s *socket) writable(op string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.failure != nil:
		return s.failure
	case s.closed:
		return sdk.Errorf(sdk.ErrClosed, "%s: %v is closed", op, s.id)
	case s.wrClosed:
		return sdk.Errorf(sdk.ErrClosed, "%s: %v was half-closed with CloseWrite, open a new socket to send", op, s.id)
	}
	return nil
}

// sendError maps the failure of a put into out.
func (s *socket) sendError(ctx context.Context, op string, err error) error {
	if errors.Is(err, errDone) {
		return ctxError(op+" on "+s.id.String()+": the link is full, the peer does not read fast enough", ctx.Err())
	}
	if werr := s.writable(op); werr != nil {
		return werr
	}
	return sdk.Errorf(sdk.ErrClosed, "%s: %v is closed", op, s.id)
}

// guide:accept

// accept is a listener's goroutine: it accepts connections until the
// listener closes, and starts each one's goroutines (its deliverer
// announces it). A connection beyond max_sockets is refused.
func (l *socket) accept() {
	sess := l.sess
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if l.isClosed() {
				return
			}
			// The listener broke: drop it.
			l.drop(sdk.Errorf(sdk.ErrDevice, "accept on %v: %w", l.id, err))
			return
		}
		if err := sess.reserve("accept on " + l.id.String()); err != nil {
			sess.log.Warn("refused an incoming connection", "socket", l.id, "peer", c.RemoteAddr(), "error", err)
			c.SetLinger(0)
			c.Close()
			continue
		}
		if err := sess.add(sess.newConn(c, l)); err != nil {
			return
		}
	}
}

// guide:end
