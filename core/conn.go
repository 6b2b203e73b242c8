package core

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"ifsock/sdk"
)

// Addr is the local address of a socket on an interface: the interface's
// name and, for a listener, its port. Drivers do not report local
// addresses, so this is what LocalAddr and Listener.Addr give.
type Addr struct {
	Interface string
	Port      int
}

// Network returns "tcp".
func (a Addr) Network() string { return "tcp" }

func (a Addr) String() string {
	if a.Port == 0 {
		return a.Interface
	}
	return a.Interface + ":" + strconv.Itoa(a.Port)
}

// connBuffer bounds the bytes a Conn holds that Read has not taken; beyond
// it the socket's receive callback waits, which holds the peer back.
const connBuffer = 256 << 10

// Conn is a net.Conn over a socket of any interface, with deadlines and
// net's error conventions: io.EOF once the peer closed and every byte was
// read, os.ErrDeadlineExceeded (a net.Error whose Timeout is true) when a
// deadline passes, net.ErrClosed after Close. Safe for concurrent use.
type Conn struct {
	sock   *Socket
	local  Addr
	remote net.Addr

	rd, wd *deadline

	mu      sync.Mutex
	bufs    [][]byte
	size    int
	readErr error         // set when the socket ended
	closed  bool          // Close was called
	change  chan struct{} // closed and replaced when data, space or an end comes
	done    chan struct{} // closed by Close
}

func newConn(s *Socket, local Addr) *Conn {
	return &Conn{sock: s, local: local, rd: newDeadline(), wd: newDeadline(),
		change: make(chan struct{}), done: make(chan struct{})}
}

func (c *Conn) signalLocked() {
	close(c.change)
	c.change = make(chan struct{})
}

// deliver is the socket's receive callback: it waits while the buffer is
// full (flow control) and returns at once after Close.
func (c *Conn) deliver(data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.size >= connBuffer && !c.closed {
		ch := c.change
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.done:
		}
		c.mu.Lock()
	}
	if c.closed {
		return
	}
	c.bufs = append(c.bufs, data)
	c.size += len(data)
	c.signalLocked()
}

// ended is the socket's disconnect callback.
func (c *Conn) ended(reason error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.readErr != nil:
		// Read gave io.EOF already: it keeps giving it, as TCP does.
	case errors.Is(reason, sdk.ErrPeerClosed):
		c.readErr = io.EOF
	default:
		c.readErr = c.opErr("read", reason)
	}
	c.signalLocked()
}

// finished is the socket's Finished callback: Read returns io.EOF once the
// buffered bytes are read, and Write goes on working.
func (c *Conn) finished() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr == nil {
		c.readErr = io.EOF
	}
	c.signalLocked()
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.remote, Err: err}
}

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		switch {
		case c.closed:
			return 0, c.opErr("read", net.ErrClosed)
		case len(c.bufs) > 0:
			if len(p) == 0 {
				return 0, nil
			}
			n := 0
			for n < len(p) && len(c.bufs) > 0 {
				k := copy(p[n:], c.bufs[0])
				n += k
				if k == len(c.bufs[0]) {
					c.bufs[0] = nil
					c.bufs = c.bufs[1:]
				} else {
					c.bufs[0] = c.bufs[0][k:]
				}
			}
			c.size -= n
			c.signalLocked()
			return n, nil
		case c.readErr != nil:
			return 0, c.readErr
		}
		dl := c.rd.wait()
		select {
		case <-dl:
			return 0, c.opErr("read", os.ErrDeadlineExceeded)
		default:
		}
		ch := c.change
		c.mu.Unlock()
		select {
		case <-ch:
		case <-dl:
		}
		c.mu.Lock()
	}
}

// Write implements net.Conn: it returns once the driver took every byte
// (or, through a plugin, committed it within the socket's send window), or
// fails at the write deadline or Close.
func (c *Conn) Write(p []byte) (int, error) {
	dl := c.wd.wait()
	select {
	case <-c.done:
		return 0, c.opErr("write", net.ErrClosed)
	case <-dl:
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	default:
	}
	// Close expires the write deadline too, so one channel ends the Send.
	err := c.sock.SendContext(doneCtx(dl), p)
	if err == nil {
		return len(p), nil
	}
	select {
	case <-c.done:
		return 0, c.opErr("write", net.ErrClosed)
	case <-dl:
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	default:
	}
	return 0, c.opErr("write", err)
}

// CloseWrite half-closes the connection, as (*net.TCPConn).CloseWrite does:
// the peer reads io.EOF after the bytes written so far, and Read goes on
// working. On an interface whose driver cannot half-close it fails with an
// error matching sdk.ErrUnsupported.
func (c *Conn) CloseWrite() error {
	select {
	case <-c.done:
		return c.opErr("close", net.ErrClosed)
	default:
	}
	if err := c.sock.CloseWrite(); err != nil {
		return c.opErr("close", err)
	}
	return nil
}

// doneCtx is a context that ends when its channel closes: a Write's ctx
// without a goroutine or a timer of its own.
type doneCtx <-chan struct{}

func (d doneCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (d doneCtx) Done() <-chan struct{}       { return d }
func (d doneCtx) Value(any) any               { return nil }

func (d doneCtx) Err() error {
	select {
	case <-d:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// Close closes the socket; blocked Reads and Writes return net.ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	c.closed = true
	c.bufs, c.size = nil, 0
	close(c.done)
	c.signalLocked()
	c.mu.Unlock()
	c.wd.set(aLongTimeAgo) // ends a blocked Write
	if err := c.sock.Close(); err != nil && !errors.Is(err, sdk.ErrClosed) {
		return c.opErr("close", err)
	}
	return nil
}

// Socket returns the socket under the connection.
func (c *Conn) Socket() *Socket { return c.sock }

// LocalAddr implements net.Conn: the interface's name (drivers do not
// report local addresses).
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn: the peer's address as a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked call.
var aLongTimeAgo = time.Unix(1, 0)

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

func connHandlers() Handlers {
	return Handlers{
		Received:     func(s *Socket, data []byte) { s.User().(*Conn).deliver(data) },
		Finished:     func(s *Socket) { s.User().(*Conn).finished() },
		Disconnected: func(s *Socket, reason error) { s.User().(*Conn).ended(reason) },
	}
}

func (c *Conn) setRemote(s *Socket) {
	if p, err := s.Peer(); err == nil {
		c.remote = net.TCPAddrFromAddrPort(p)
	} else {
		c.remote = Addr{Interface: s.gen.iface.name}
	}
}

// DialContext connects to address ("host:port") over the interface and
// returns a net.Conn; network must be "tcp", "tcp4" or "tcp6". Its shape
// fits http.Transport.DialContext and similar hooks.
func (i *Interface) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: sdk.Errorf(sdk.ErrUnsupported, "network %q: only tcp", network)}
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: sdk.Errorf(sdk.ErrBadArgument, "%v", err)}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: sdk.Errorf(sdk.ErrBadArgument, "port %q is not a number", portStr)}
	}
	// The Conn must exist before the first byte can arrive.
	h := connHandlers()
	var conn *Conn
	ready := make(chan struct{})
	h.Received = func(s *Socket, data []byte) { <-ready; conn.deliver(data) }
	h.Finished = func(s *Socket) { <-ready; conn.finished() }
	h.Disconnected = func(s *Socket, reason error) { <-ready; conn.ended(reason) }
	s, err := i.Connect(ctx, host, port, h, nil)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addrOf(host, port), Err: err}
	}
	conn = newConn(s, Addr{Interface: i.name})
	s.SetUser(conn)
	conn.setRemote(s)
	close(ready)
	return conn, nil
}

func addrOf(host string, port int) net.Addr {
	return Addr{Interface: net.JoinHostPort(host, strconv.Itoa(port))}
}

// Dial is DialContext without a context.
func (i *Interface) Dial(network, address string) (net.Conn, error) {
	return i.DialContext(context.Background(), network, address)
}

// Listener is a net.Listener over a listening socket of any interface.
type Listener struct {
	sock    *Socket
	addr    Addr
	accepts chan *Conn
	once    sync.Once
	done    chan struct{}
}

// acceptBacklog is how many accepted connections wait for Accept; beyond
// it the accepting callback waits.
const acceptBacklog = 128

// NetListen listens on port and returns a net.Listener whose connections
// are *Conn.
func (i *Interface) NetListen(ctx context.Context, port int) (*Listener, error) {
	l := &Listener{addr: Addr{Interface: i.name, Port: port}, accepts: make(chan *Conn, acceptBacklog), done: make(chan struct{})}
	h := connHandlers()
	h.Connected = func(s *Socket) {
		c := newConn(s, Addr{Interface: i.name, Port: port})
		s.SetUser(c)
		c.setRemote(s)
		select {
		case l.accepts <- c:
			// Close may have drained the backlog just before this landed:
			// then nobody will accept it.
			select {
			case <-l.done:
				l.drain()
			default:
			}
		case <-l.done:
			_ = s.Close()
		}
	}
	s, err := i.Listen(ctx, port, h, nil)
	if err != nil {
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: l.addr, Err: err}
	}
	l.sock = s
	return l, nil
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	default:
	}
	select {
	case c := <-l.accepts:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close implements net.Listener: the listening socket closes; connections
// already accepted stay open, those not accepted yet are closed.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.sock.Close()
		l.drain()
	})
	return err
}

// drain closes the connections accepted but never taken by Accept.
func (l *Listener) drain() {
	for {
		select {
		case c := <-l.accepts:
			_ = c.Close()
		default:
			return
		}
	}
}

// Addr implements net.Listener.
func (l *Listener) Addr() net.Addr { return l.addr }
