package core

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// connBuffer bounds the bytes a Conn holds that Read has not taken; beyond
// it the socket's receive callback waits, which holds the peer back.
const connBuffer = 256 << 10

// Conn is a net.Conn over a socket of any interface, with deadlines and
// net's error conventions: io.EOF once the peer closed and every byte was
// read, os.ErrDeadlineExceeded (a net.Error whose Timeout is true) when a
// deadline passes, net.ErrClosed after Close. Safe for concurrent use.
type Conn struct {
	sock   *Socket
	remote *net.TCPAddr

	addrMu   sync.Mutex
	local    *net.TCPAddr // nil until known
	fallback *net.TCPAddr // the local address if the driver cannot say

	rd, wd *deadline

	mu      sync.Mutex
	bufs    [][]byte
	size    int
	readErr error         // set when the socket ended
	closed  bool          // Close was called
	change  chan struct{} // closed and replaced when data, space or an end comes
	done    chan struct{} // closed by Close
}

// newConn makes the Conn of s with its peer's address (asked of the driver
// within ctx, if it did not come with the socket). Its local address is
// asked for at once if eager (a dialled socket's came with the socket), or
// at the first LocalAddr: an accepted socket's would cost a round trip to
// the plugin on every accept; fallback stands in for it if the socket has
// ended by then (its listener's address).
func newConn(ctx context.Context, s *Socket, eager bool, fallback *net.TCPAddr) *Conn {
	c := &Conn{sock: s, rd: newDeadline(), wd: newDeadline(),
		change: make(chan struct{}), done: make(chan struct{})}
	c.remote, c.fallback = &net.TCPAddr{}, fallback
	if c.fallback == nil {
		c.fallback = &net.TCPAddr{}
	}
	if p, err := s.PeerContext(ctx); err == nil {
		c.remote = net.TCPAddrFromAddrPort(p)
	}
	if eager {
		if p, err := s.LocalContext(ctx); err == nil {
			c.local = net.TCPAddrFromAddrPort(p)
		}
	}
	return c
}

// localAddr returns the local address, asking the driver the first time.
func (c *Conn) localAddr() *net.TCPAddr {
	c.addrMu.Lock()
	defer c.addrMu.Unlock()
	if c.local == nil {
		c.local = c.fallback
		if p, err := c.sock.Local(); err == nil {
			c.local = net.TCPAddrFromAddrPort(p)
		}
	}
	return c.local
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
	// The local address as known: an error never waits for the driver.
	c.addrMu.Lock()
	local := c.local
	if local == nil {
		local = c.fallback
	}
	c.addrMu.Unlock()
	return &net.OpError{Op: op, Net: "tcp", Source: local, Addr: c.remote, Err: err}
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
// fails at the write deadline or Close. A Write that fails partway returns
// the count of bytes committed before the failure (through a plugin
// process; an in-process driver that does not say returns 0).
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
	// The bytes committed before the failure count, as io.Writer says.
	n := sdk.Sent(err)
	select {
	case <-c.done:
		return n, c.opErr("write", net.ErrClosed)
	case <-dl:
		return n, c.opErr("write", os.ErrDeadlineExceeded)
	default:
	}
	return n, c.opErr("write", err)
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

// Interface returns the interface the connection runs on: its Name is the
// "eth0" or "lo0" that the addresses do not carry.
func (c *Conn) Interface() *Interface { return c.sock.Interface() }

// LocalAddr implements net.Conn: a *net.TCPAddr, the socket's own IP and
// port as the driver reports them (the OS's for hostnet, 127.0.0.1 or ::1
// and the port on a loopback, the module's station IP on an ESP8266, whose
// port is 0 where the module does not say). It is never nil.
func (c *Conn) LocalAddr() net.Addr { return c.localAddr() }

// RemoteAddr implements net.Conn: the peer's address, a *net.TCPAddr.
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

// DialContext connects to address ("host:port") over the interface and
// returns a net.Conn (a *Conn); its shape fits http.Transport.DialContext
// and the dialer hooks of gRPC, go-redis, pgx and the like. network is
// "tcp", or "tcp4" / "tcp6" to restrict the address family: an IP literal
// of the other family is refused at once, and a host name the driver
// resolved to the other family is closed again with an error (the driver
// resolves names, design rule 9). Any other network is an error matching
// sdk.ErrUnsupported and naming the networks an interface carries.
func (i *Interface) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, &net.OpError{Op: "dial", Net: network, Err: sdk.Errorf(sdk.ErrUnsupported, "unknown network %q: an interface carries tcp, tcp4 and tcp6", network)}
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: sdk.Errorf(sdk.ErrBadArgument, "%v", err)}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: sdk.Errorf(sdk.ErrBadArgument, "port %q is not a number", portStr)}
	}
	if ip, err := netip.ParseAddr(host); err == nil && !familyOK(network, ip) {
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addrOf(host, port),
			Err: sdk.Errorf(sdk.ErrBadArgument, "%s is not an address of network %s", host, network)}
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
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addrOf(host, port), Err: trimOp(err, "connect", port)}
	}
	conn = newConn(ctx, s, true, nil)
	s.SetUser(conn)
	close(ready)
	if ip := conn.remote.AddrPort().Addr(); ip.IsValid() && !familyOK(network, ip) {
		_ = conn.Close()
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addrOf(host, port),
			Err: sdk.Errorf(sdk.ErrUnreachable, "%s resolved to %s, not an address of network %s", host, ip, network)}
	}
	return conn, nil
}

// familyOK reports whether ip belongs to network: tcp4 takes IPv4 (and
// IPv4-mapped IPv6), tcp6 IPv6, tcp both.
func familyOK(network string, ip netip.Addr) bool {
	switch network {
	case "tcp4":
		return ip.Unmap().Is4()
	case "tcp6":
		return ip.Is6() && !ip.Is4In6()
	}
	return true
}

// trimOp drops the address from a driver's error text that starts with
// "op address: ", as the *net.OpError around it names the address already:
// "dial tcp 127.0.0.1:80: connect: connection refused: ...", as net says
// it. The error still unwraps to err.
func trimOp(err error, op string, port int) error {
	text := err.Error()
	rest, ok := strings.CutPrefix(text, op+" ")
	if !ok {
		return err
	}
	addr, tail, ok := strings.Cut(rest, ": ")
	if !ok || !strings.HasSuffix(addr, ":"+strconv.Itoa(port)) {
		return err
	}
	return &reworded{msg: op + ": " + tail, err: err}
}

// reworded is err with another text.
type reworded struct {
	msg string
	err error
}

func (e *reworded) Error() string { return e.msg }
func (e *reworded) Unwrap() error { return e.err }

// addrOf is the address a dial was given: a *net.TCPAddr for an IP, the
// host:port text for a name.
func addrOf(host string, port int) net.Addr {
	if ip, err := netip.ParseAddr(host); err == nil {
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
	}
	return nameAddr(net.JoinHostPort(host, strconv.Itoa(port)))
}

// nameAddr is a host name and port that was not resolved here.
type nameAddr string

func (a nameAddr) Network() string { return "tcp" }
func (a nameAddr) String() string  { return string(a) }

// Dial is DialContext without a context.
func (i *Interface) Dial(network, address string) (net.Conn, error) {
	return i.DialContext(context.Background(), network, address)
}

// Listener is a net.Listener over a listening socket of any interface.
type Listener struct {
	iface   *Interface
	sock    *Socket
	addr    atomic.Pointer[net.TCPAddr] // set once Listen returned
	accepts chan *Conn
	once    sync.Once
	done    chan struct{}
}

// acceptBacklog is how many accepted connections wait for Accept; beyond
// it the accepting callback waits.
const acceptBacklog = 128

// NetListen listens on port and returns a net.Listener whose connections
// are *Conn. Port 0 lets the driver pick a free port: Addr says which.
func (i *Interface) NetListen(ctx context.Context, port int) (*Listener, error) {
	l := &Listener{iface: i, accepts: make(chan *Conn, acceptBacklog), done: make(chan struct{})}
	l.addr.Store(&net.TCPAddr{Port: port})
	h := connHandlers()
	h.Connected = func(s *Socket) {
		ctx, cancel := context.WithTimeout(context.Background(), i.callTimeout())
		c := newConn(ctx, s, false, l.addr.Load())
		cancel()
		s.SetUser(c)
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
		return nil, &net.OpError{Op: "listen", Net: "tcp", Addr: l.addr.Load(), Err: trimOp(err, "listen", port)}
	}
	l.sock = s
	if a, err := s.LocalContext(ctx); err == nil {
		l.addr.Store(net.TCPAddrFromAddrPort(a))
	}
	return l, nil
}

// Accept implements net.Listener.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr.Load(), Err: net.ErrClosed}
	default:
	}
	select {
	case c := <-l.accepts:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.addr.Load(), Err: net.ErrClosed}
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

// Addr implements net.Listener: a *net.TCPAddr, the address and port the
// driver listens on (the port it picked for port 0). A listener bound to
// every address of the host has the unspecified IP, as with package net.
func (l *Listener) Addr() net.Addr { return l.addr.Load() }

// Interface returns the interface the listener runs on: its Name is the
// "eth0" or "lo0" that Addr does not carry.
func (l *Listener) Interface() *Interface { return l.iface }

// Socket returns the listening socket under the listener.
func (l *Listener) Socket() *Socket { return l.sock }
