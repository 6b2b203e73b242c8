package hostnet

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// minReadSize is the first read buffer of a socket: idle sockets stay small,
// and the buffer doubles up to the read_size setting while reads fill it.
const minReadSize = 4096

// socket is one socket of a session: a connection (conn set) or a listener
// (ln set).
//
// Ownership: the session owns it. A connection's reader goroutine raises all
// of its events; Sends and CloseWrite take turns on sendTurn; closed (and
// gone) is set by exactly one of a local close, a drop and Close.
type socket struct {
	id       sdk.Socket
	sess     *session
	conn     *net.TCPConn
	ln       *net.TCPListener
	listener *socket // for an accepted socket, the listener that accepted it
	peer     netip.AddrPort
	// sendTurn is a one-slot semaphore: Sends and CloseWrite on this socket
	// take turns, and one waiting for its turn still honours its ctx.
	sendTurn chan struct{}
	// wrClosed is set by CloseWrite; only read or written holding sendTurn.
	wrClosed bool
	// fired is signalled by a Send's ctx watcher (expire) once it has set a
	// past write deadline; one Send at a time uses it (sendTurn).
	fired chan struct{}
	// expire is the ctx watcher of a Send, made once (a method value
	// allocates each time it is taken).
	expire func()
	// broken carries the reason of a Send that failed because the connection
	// broke, to the reader: after the peer's FIN it no longer reads, and
	// raises that Dropped instead. Buffered, one reason at most.
	broken chan error
	// closed is set once, by a local close, Close or a drop (see
	// session.remove); no event of the socket starts after it is set. gone
	// is closed at the same time, to wake a reader waiting after Finished.
	closed atomic.Bool
	gone   chan struct{}
}

func (sess *session) newConn(c *net.TCPConn) *socket {
	if err := c.SetNoDelay(sess.cfg.noDelay); err != nil {
		sess.log.Debug("set nodelay", "error", err)
	}
	var peer netip.AddrPort
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		peer = ta.AddrPort()
		peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	}
	s := &socket{
		id: sess.nextID(), sess: sess, conn: c, peer: peer,
		sendTurn: make(chan struct{}, 1),
		fired:    make(chan struct{}, 1),
		broken:   make(chan error, 1),
		gone:     make(chan struct{}),
	}
	s.expire = s.expireWrite
	return s
}

func (sess *session) newListener(ln *net.TCPListener) *socket {
	return &socket{id: sess.nextID(), sess: sess, ln: ln, gone: make(chan struct{})}
}

// markClosed sets closed and closes gone. Exactly one caller gets true.
func (s *socket) markClosed() bool {
	if !s.closed.CompareAndSwap(false, true) {
		return false
	}
	close(s.gone)
	return true
}

func (s *socket) closeOS() {
	if s.ln != nil {
		s.ln.Close()
	} else {
		s.conn.Close()
	}
}

// read is the socket's reader goroutine. It announces an accepted socket,
// then reads from the OS only as fast as the host consumes: one read, one
// Events.Received (which blocks while the host's window is full), and so on.
// What the host has not consumed stays in the kernel's buffers, where TCP
// holds the peer back.
//
// At the peer's FIN (io.EOF) it raises Finished and leaves the socket open
// for Sends: it then waits, without reading, until the socket is closed
// (CloseSocket, Close) or a Send finds the connection broken, which it
// reports as the socket's Dropped. Any other read error removes the socket,
// closes it in the OS and raises Dropped with the mapped reason.
func (s *socket) read() {
	ev := s.sess.events
	if s.listener != nil {
		if s.listener.closed.Load() || s.closed.Load() {
			// The listener closed before this socket was announced: nobody
			// would own it.
			if s.sess.remove(s) {
				s.closeOS()
			}
			return
		}
		ev.Accepted(s.listener.id, s.id, s.peer)
	}
	max := s.sess.cfg.readSize
	buf := make([]byte, min(minReadSize, max))
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			if s.closed.Load() {
				return
			}
			var data []byte
			if n >= len(buf)/2 {
				// Received takes ownership: hand the buffer over and
				// read into a new one, larger if this one filled up.
				data = buf[:n:n]
				size := len(buf)
				if n == size {
					size = min(2*size, max)
				}
				buf = make([]byte, size)
			} else {
				data = append([]byte(nil), buf[:n]...)
			}
			if rerr := ev.Received(s.id, data); rerr != nil {
				s.sess.log.Debug("host stopped receiving", "socket", s.id, "error", rerr)
				return
			}
		}
		if errors.Is(err, io.EOF) {
			s.finished()
			return
		}
		if err != nil {
			s.drop(dropReason(err, "receive on "+s.id.String()))
			return
		}
	}
}

// finished is the end of the reader after the peer's FIN: it raises
// Finished, then waits until the socket is closed or a Send finds the
// connection broken (dropped then).
func (s *socket) finished() {
	if s.closed.Load() {
		return
	}
	s.sess.log.Debug("peer finished sending", "socket", s.id)
	s.sess.events.Finished(s.id)
	select {
	case reason := <-s.broken:
		s.drop(reason)
	case <-s.gone:
	case <-s.sess.ctx.Done():
	}
}

// drop removes s, closes it in the OS and raises its Dropped, unless it was
// closed or dropped already. Only s's reader calls it (events of one socket
// come from one goroutine).
func (s *socket) drop(reason error) {
	if s.sess.remove(s) {
		s.closeOS()
		s.sess.log.Debug("dropped", "socket", s.id, "reason", reason)
		s.sess.events.Dropped(s.id, reason)
	}
}

// accept is a listener's goroutine: it accepts connections until the
// listener closes, and starts a reader for each (which announces it).
func (l *socket) accept() {
	sess := l.sess
	delay := 5 * time.Millisecond
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if l.closed.Load() {
				return
			}
			if isTemporaryAccept(err) {
				sess.log.Warn("accept failed, retrying", "socket", l.id, "error", err)
				if !sess.backoff(delay) {
					return
				}
				delay = min(2*delay, time.Second)
				continue
			}
			if sess.remove(l) {
				l.closeOS()
				reason := sdk.Errorf(sdk.ErrDevice, "accept on %s: %w", l.id, err)
				sess.log.Error("listener dropped", "socket", l.id, "error", err)
				sess.events.Dropped(l.id, reason)
			}
			return
		}
		delay = 5 * time.Millisecond
		if err := sess.reserve("accept on " + l.id.String()); err != nil {
			sess.log.Warn("refused an incoming connection", "socket", l.id, "peer", c.RemoteAddr(), "error", err)
			c.SetLinger(0)
			c.Close()
			if errors.Is(err, sdk.ErrNotOpen) {
				return
			}
			continue
		}
		s := sess.newConn(c)
		s.listener = l
		if err := sess.add(s); err != nil {
			return
		}
	}
}

func isTemporaryAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.EPROTO, syscall.EPERM, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// takeTurn waits for s's turn among Sends and CloseWrite, within ctx. The
// caller gives it back with <-s.sendTurn.
func (s *socket) takeTurn(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return mapWaitError(ctx, op, s.id, err)
	}
	select {
	case s.sendTurn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return mapWaitError(ctx, op, s.id, ctx.Err())
	}
}

// send writes all of data, taking its turn among concurrent Sends.
//
// A ctx that can end is watched by one context.AfterFunc, which sets a write
// deadline in the past when ctx is done (canceled or past its deadline); the
// deadline is reset only when that happened. A ctx that cannot end costs
// nothing.
func (s *socket) send(ctx context.Context, data []byte) error {
	if s.ln != nil {
		return sdk.Errorf(sdk.ErrBadArgument, "send: %s is a listener, send on a connected socket", s.id)
	}
	if err := s.takeTurn(ctx, "send on"); err != nil {
		return err
	}
	defer func() { <-s.sendTurn }()
	if s.closed.Load() {
		return sdk.Errorf(sdk.ErrClosed, "send: %s is closed", s.id)
	}
	if s.wrClosed {
		return sdk.Errorf(sdk.ErrClosed, "send: %s was half-closed with CloseWrite and only receives now, open a new socket to send", s.id)
	}
	if len(data) == 0 {
		return nil
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, s.expire)
		defer func() {
			if !stop() {
				// The watcher ran or is running: wait for it, then
				// undo its deadline for the next Send.
				<-s.fired
				s.conn.SetWriteDeadline(time.Time{})
			}
		}()
	}
	if n, err := s.conn.Write(data); err != nil {
		reason := mapSendError(ctx, s.id, s.closed.Load(), err)
		if ctx.Err() == nil && !errors.Is(reason, sdk.ErrClosed) {
			// The connection broke. The reader notices it too while it
			// reads; after the peer's FIN only this tells it.
			select {
			case s.broken <- reason:
			default:
			}
		}
		if n > 0 {
			// The OS took the first n bytes: the caller's count.
			return &sdk.PartialSend{N: n, Err: reason}
		}
		return reason
	}
	return nil
}

// expireWrite is a Send's ctx watcher: it wakes the blocked write.
func (s *socket) expireWrite() {
	s.conn.SetWriteDeadline(aLongTimeAgo)
	s.fired <- struct{}{}
}

// closeWrite half-closes s after the Sends before it (they hold the turn).
func (s *socket) closeWrite(ctx context.Context) error {
	if s.ln != nil {
		return sdk.Errorf(sdk.ErrBadArgument, "close write: %s is a listener, half-close a connected socket", s.id)
	}
	if err := s.takeTurn(ctx, "close write on"); err != nil {
		return err
	}
	defer func() { <-s.sendTurn }()
	if s.closed.Load() {
		return sdk.Errorf(sdk.ErrClosed, "close write: %s is closed", s.id)
	}
	if s.wrClosed {
		return sdk.Errorf(sdk.ErrClosed, "close write: %s is already half-closed, close it with CloseSocket when done receiving", s.id)
	}
	if err := s.conn.CloseWrite(); err != nil {
		if s.closed.Load() || errors.Is(err, net.ErrClosed) {
			return sdk.Errorf(sdk.ErrClosed, "close write on %s: %w", s.id, err)
		}
		return dropReason(err, "close write on "+s.id.String())
	}
	s.wrClosed = true
	return nil
}

// aLongTimeAgo is a deadline in the past, which wakes a blocked write.
var aLongTimeAgo = time.Unix(1, 0)
