package hostnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"time"

	"ifsock/sdk"
)

// minReadSize is the first read buffer of a socket: idle sockets stay small,
// and the buffer doubles up to the read_size setting while reads fill it.
const minReadSize = 4096

// socket is one socket of a session: a connection (conn set) or a listener
// (ln set).
type socket struct {
	id       sdk.Socket
	sess     *session
	conn     *net.TCPConn
	ln       *net.TCPListener
	listener *socket // for an accepted socket, the listener that accepted it
	peer     netip.AddrPort
	// sendTurn is a one-slot semaphore: Sends on this socket take turns, and
	// one waiting for its turn still honours its ctx.
	sendTurn chan struct{}
	// closed is set once, by a local close, Close or a drop (see
	// session.remove); no event of the socket starts after it is set.
	closed atomic.Bool
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
	return &socket{id: sess.nextID(), sess: sess, conn: c, peer: peer, sendTurn: make(chan struct{}, 1)}
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
		if err != nil {
			if s.sess.remove(s) {
				s.closeOS()
				reason := dropReason(err, "receive on "+s.id.String())
				s.sess.log.Debug("dropped", "socket", s.id, "reason", reason)
				ev.Dropped(s.id, reason)
			}
			return
		}
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

// send writes all of data, taking its turn among concurrent Sends.
func (s *socket) send(ctx context.Context, data []byte) error {
	if s.ln != nil {
		return sdk.Errorf(sdk.ErrBadArgument, "send: %s is a listener, send on a connected socket", s.id)
	}
	if err := ctx.Err(); err != nil {
		return mapSendError(ctx, s.id, false, err)
	}
	select {
	case s.sendTurn <- struct{}{}:
	case <-ctx.Done():
		return mapSendError(ctx, s.id, false, ctx.Err())
	}
	defer func() { <-s.sendTurn }()
	if s.closed.Load() {
		return sdk.Errorf(sdk.ErrClosed, "send: %s is closed", s.id)
	}
	if len(data) == 0 {
		return nil
	}
	if ctx.Done() != nil {
		dl, _ := ctx.Deadline() // zero when none
		s.conn.SetWriteDeadline(dl)
		fired := make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			s.conn.SetWriteDeadline(aLongTimeAgo)
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
			}
			s.conn.SetWriteDeadline(time.Time{})
		}()
	}
	if _, err := s.conn.Write(data); err != nil {
		return mapSendError(ctx, s.id, s.closed.Load(), err)
	}
	return nil
}

// aLongTimeAgo is a deadline in the past, which wakes a blocked write.
var aLongTimeAgo = time.Unix(1, 0)
