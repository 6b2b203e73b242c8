package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// Handlers are a socket's callbacks, Dooba's cnct_handler, recv_handler and
// dcnt_handler. Any may be nil.
//
// For one socket the callbacks run one at a time, never concurrently, in
// order: Connected (accepted sockets) first, Received in byte order, then at
// most one Disconnected, and none after Close returned (design rule 2).
// Different sockets' callbacks run concurrently. A callback may call any
// method of the socket, of other sockets and of the interface, Send and
// Close included.
type Handlers struct {
	// Connected runs when a listening socket accepted s (the new socket,
	// which inherited the listener's handlers and user value).
	Connected func(s *Socket)
	// Received runs when data arrived on s. data belongs to the handler.
	// While it runs, no more data is taken for s: a slow handler holds back
	// this socket's peer alone (flow control).
	Received func(s *Socket, data []byte)
	// Disconnected runs when s was dropped by the peer, the link or the
	// driver: reason is sdk.ErrPeerClosed for an orderly close by the peer,
	// sdk.ErrDriverExited when the driver process died, and so on. A local
	// Close does not run it (Dooba: "called whenever an existing socket is
	// dropped by the peer").
	//
	// A peer's orderly close (TCP FIN) when Finished is nil: Disconnected
	// runs with sdk.ErrPeerClosed after the last Received, the socket still
	// writable while it runs (a last reply goes out), and when it returns
	// the socket is closed in order: every byte already sent is delivered.
	Disconnected func(s *Socket, reason error)
	// Finished, if set, runs instead when the peer finished sending (TCP
	// FIN) on an interface whose driver can half-close (sdk.Info's
	// CanHalfClose): no Received follows, and the socket stays open and
	// writable until Close, as a TCP socket does; Disconnected still runs
	// if the connection then breaks. On a driver that cannot half-close (an
	// ESP8266) the peer's close is always a Disconnected.
	Finished func(s *Socket)
}

type socketState int

const (
	open socketState = iota
	closedLocally
	droppedByPeer
)

// Socket is a socket of an interface: a client socket from Connect, a
// server socket from Listen, or a socket a server socket accepted. It is
// safe for concurrent use. The driver owns the underlying socket; this
// value stays valid (and answers ErrClosed) after the socket ends.
type Socket struct {
	gen      *generation
	id       sdk.Socket
	isLstn   bool
	handlers Handlers
	listener *Socket // the listener that accepted it, if any

	cb sync.Mutex // serializes callbacks

	mu          sync.Mutex
	user        any
	state       socketState
	reason      error
	peer        netip.AddrPort
	local       netip.AddrPort
	peerDone    bool          // the peer finished sending
	writeClosed bool          // CloseWrite was called
	ended       chan struct{} // closed when state leaves open
}

func newSocket(g *generation, id sdk.Socket, listener bool, h Handlers, user any) *Socket {
	return &Socket{gen: g, id: id, isLstn: listener, handlers: h, user: user, ended: make(chan struct{})}
}

// endLocked moves an open socket to st.
func (s *Socket) endLocked(st socketState, reason error) {
	s.state, s.reason = st, reason
	close(s.ended)
}

// Interface returns the interface the socket belongs to.
func (s *Socket) Interface() *Interface { return s.gen.iface }

// IsListener reports whether s is a listening (server) socket.
func (s *Socket) IsListener() bool { return s.isLstn }

// Listener returns the listening socket that accepted s, or nil.
func (s *Socket) Listener() *Socket { return s.listener }

// User returns the user value given to Connect or Listen (inherited from
// the listener for an accepted socket), or the one set by SetUser.
func (s *Socket) User() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.user
}

// SetUser replaces the socket's user value.
func (s *Socket) SetUser(v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = v
}

func (s *Socket) String() string {
	return fmt.Sprintf("%s/%d", s.gen.iface.name, uint64(s.id))
}

func (s *Socket) isOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == open
}

// errClosedLocked says why s cannot be used. A drop's reason stays
// matchable: a socket dropped because its driver died gives an error that
// matches sdk.ErrDriverExited as well as sdk.ErrClosed.
func (s *Socket) errClosedLocked() error {
	if s.state == droppedByPeer {
		return s.droppedErr(s.reason)
	}
	return sdk.Errorf(sdk.ErrClosed, "socket %s is closed", s)
}

// droppedErr is the error of a call on s after it was dropped for reason:
// one text per kind of drop (the reason's sentinel, not the words of
// whoever saw it first), so that one event gives one error however the
// call met it. It matches sdk.ErrClosed, the reason, and through the
// reason's sentinel the errno Go code checks (syscall.ECONNRESET...).
func (s *Socket) droppedErr(reason error) error {
	return &sdk.Error{Kind: sdk.ErrClosed, Msg: fmt.Sprintf("socket %s was dropped: %v", s, sdk.CodeOf(reason).Sentinel()), Cause: reason}
}

// dropWait bounds how long a Send that failed because its socket is ending
// waits for the drop event on its way, to report the drop.
const dropWait = time.Second

// Send sends data, Dooba's socket_send. It returns nil once every byte is
// committed for in-order delivery: taken by the driver, or, through a
// plugin process, written within the socket's send window (as TCP's write
// returns once the kernel has the bytes; a driver without a window, an
// ESP8266, took them). It blocks while the peer is not taking data (flow
// control). A failure after the bytes were committed shows as the socket's
// Disconnected, or as the error of a later Send. It is safe from any
// goroutine and from inside callbacks; sends of concurrent callers are not
// interleaved. Sending on a closed or dropped socket is an error matching
// sdk.ErrClosed (and sdk.ErrDriverExited when the driver process died).
func (s *Socket) Send(data []byte) error { return s.SendContext(context.Background(), data) }

// SendContext is Send with a context bounding how long it may block.
//
// When it fails after committing part of data, the error carries how many
// bytes it committed: sdk.Sent(err) (the count an io.Writer returns).
func (s *Socket) SendContext(ctx context.Context, data []byte) (err error) {
	s.mu.Lock()
	if s.state != open {
		err := s.errClosedLocked()
		s.mu.Unlock()
		return err
	}
	if s.writeClosed {
		s.mu.Unlock()
		// As TCP's write after shutdown(SHUT_WR): EPIPE, at once.
		return &sdk.Error{Kind: sdk.ErrClosed, Cause: syscall.EPIPE,
			Msg: fmt.Sprintf("send on socket %s: its write side is closed (CloseWrite was called): nothing more can be sent on it", s)}
	}
	s.mu.Unlock()
	if s.isLstn {
		return sdk.Errorf(sdk.ErrBadArgument, "socket %s listens: send on the sockets it accepts", s)
	}
	// The driver keeps each Send's bytes together (sdk.Driver.Send), and
	// waiting for an earlier Send honours ctx there.
	err = s.gen.driver.Send(ctx, s.id, data)
	if err == nil || errors.Is(err, sdk.ErrDriverExited) {
		return err
	}
	if n := sdk.Sent(err); n > 0 {
		// Whatever the error becomes, it keeps the count committed.
		defer func() { err = &sdk.PartialSend{N: n, Err: err} }()
	}
	switch sdk.CodeOf(err) {
	case sdk.CodeClosed, sdk.CodeReset, sdk.CodePeerClosed:
		// The connection ended: its drop is on its way (or came). Report
		// the drop, so that every Send that meets it says the same.
		t := time.NewTimer(dropWait)
		select {
		case <-s.ended:
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.state != open:
		// Closed or dropped meanwhile: say so (a drop keeps its reason).
		return s.errClosedLocked()
	case s.writeClosed:
		return err
	}
	switch sdk.CodeOf(err) {
	case sdk.CodeReset, sdk.CodePeerClosed:
		return s.droppedErr(err)
	}
	return err
}

// CloseWrite half-closes the socket, as (*net.TCPConn).CloseWrite does:
// the bytes already sent are delivered, then the peer learns that this side
// finished sending; the socket still receives until the peer finishes too
// or Close. Send afterwards is an error matching sdk.ErrClosed. On a driver
// that cannot half-close (sdk.Info's CanHalfClose false, an ESP8266) it
// fails with sdk.ErrUnsupported and the socket stays as it was.
func (s *Socket) CloseWrite() error {
	ctx, cancel := s.callContext()
	defer cancel()
	return s.CloseWriteContext(ctx)
}

// CloseWriteContext is CloseWrite with a context bounding how long it may
// wait for the Sends before it.
func (s *Socket) CloseWriteContext(ctx context.Context) error {
	s.mu.Lock()
	if s.state != open {
		err := s.errClosedLocked()
		s.mu.Unlock()
		return err
	}
	if s.writeClosed {
		s.mu.Unlock()
		return sdk.Errorf(sdk.ErrClosed, "socket %s: its write side is closed already", s)
	}
	s.mu.Unlock()
	if s.isLstn {
		return sdk.Errorf(sdk.ErrBadArgument, "socket %s listens: half-close the sockets it accepts", s)
	}
	if err := s.gen.driver.CloseWrite(ctx, s.id); err != nil {
		return err
	}
	s.mu.Lock()
	s.writeClosed = true
	s.mu.Unlock()
	return nil
}

// callContext bounds the simple forms of the calls that ask the driver
// (Peer, Local, CloseWrite, Close): Config.CallTimeout.
func (s *Socket) callContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.gen.iface.callTimeout())
}

// Peer returns the remote address and port, Dooba's socket_get_peer. It
// waits for the driver at most Config.CallTimeout; PeerContext takes a
// context instead.
func (s *Socket) Peer() (netip.AddrPort, error) {
	ctx, cancel := s.callContext()
	defer cancel()
	return s.PeerContext(ctx)
}

// PeerContext is Peer with a context bounding how long it waits for the
// driver (an ESP8266 may have to ask the module).
func (s *Socket) PeerContext(ctx context.Context) (netip.AddrPort, error) {
	return s.address(ctx, &s.peer, s.gen.driver.Peer)
}

// Local returns the socket's own address and port (design rule 12): a
// listener's address and the port it listens on (the one the driver picked
// for port 0), a connected socket's own IP and port. The address is what
// the driver knows: the OS's for hostnet, 127.0.0.1 or ::1 on a loopback,
// the module's station IP on an ESP8266 (with port 0 where the module does
// not say). It waits for the driver at most Config.CallTimeout.
func (s *Socket) Local() (netip.AddrPort, error) {
	ctx, cancel := s.callContext()
	defer cancel()
	return s.LocalContext(ctx)
}

// LocalContext is Local with a context bounding how long it waits.
func (s *Socket) LocalContext(ctx context.Context) (netip.AddrPort, error) {
	return s.address(ctx, &s.local, s.gen.driver.Local)
}

// address returns *cached, or asks the driver once.
func (s *Socket) address(ctx context.Context, cached *netip.AddrPort, ask func(context.Context, sdk.Socket) (netip.AddrPort, error)) (netip.AddrPort, error) {
	s.mu.Lock()
	if s.state != open {
		err := s.errClosedLocked()
		s.mu.Unlock()
		return netip.AddrPort{}, err
	}
	if cached.IsValid() {
		p := *cached
		s.mu.Unlock()
		return p, nil
	}
	s.mu.Unlock()
	p, err := ask(ctx, s.id)
	if err != nil {
		return netip.AddrPort{}, err
	}
	s.mu.Lock()
	*cached = p
	s.mu.Unlock()
	return p, nil
}

// Close closes the socket, Dooba's socket_close. The Disconnected handler
// does not run for a local close, and no callback of s starts after Close
// returns. Closing a listener leaves the sockets it accepted open. Closing
// twice is an error matching sdk.ErrClosed. It waits for the driver at most
// Config.CallTimeout; CloseContext takes a context instead.
func (s *Socket) Close() error {
	ctx, cancel := s.callContext()
	defer cancel()
	return s.CloseContext(ctx)
}

// CloseContext is Close with a context bounding how long it waits for the
// driver. The socket is closed for the application whatever it returns: no
// callback starts after it, and calls on it fail with sdk.ErrClosed.
func (s *Socket) CloseContext(ctx context.Context) error {
	s.mu.Lock()
	if s.state != open {
		err := s.errClosedLocked()
		s.mu.Unlock()
		return err
	}
	s.endLocked(closedLocally, nil)
	s.mu.Unlock()
	s.gen.forget(s.id)
	err := s.gen.driver.CloseSocket(ctx, s.id)
	switch {
	case err == nil:
		return nil
	case sdk.CodeOf(err) == sdk.CodeDriverExited, sdk.CodeOf(err) == sdk.CodeClosed:
		// The socket is gone either way.
		return nil
	}
	return err
}

// markClosed ends s without a callback (the interface is closing).
func (s *Socket) markClosed() {
	s.mu.Lock()
	if s.state == open {
		s.endLocked(closedLocally, nil)
	}
	s.mu.Unlock()
}

// callback runs f with the socket's callback lock held.
func (s *Socket) callback(f func()) {
	s.cb.Lock()
	defer s.cb.Unlock()
	f()
}

func (s *Socket) received(data []byte) error {
	s.cb.Lock()
	defer s.cb.Unlock()
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if st != open {
		return sdk.Errorf(sdk.ErrClosed, "socket %s is closed", s)
	}
	if h := s.handlers.Received; h != nil {
		h(s, data)
	}
	return nil
}

// finished is the peer's FIN: Handlers.Finished if set; otherwise Dooba's
// model, a disconnect, then a close in order (see Handlers).
func (s *Socket) finished() {
	s.mu.Lock()
	if s.state != open || s.peerDone {
		s.mu.Unlock()
		return
	}
	s.peerDone = true
	s.mu.Unlock()
	if h := s.handlers.Finished; h != nil {
		s.callback(func() { h(s) })
		return
	}
	if h := s.handlers.Disconnected; h != nil {
		s.callback(func() { h(s, sdk.ErrPeerClosed) })
	}
	_ = s.Close()
}

func (s *Socket) dropped(reason error) {
	if reason == nil {
		reason = sdk.ErrPeerClosed
	}
	s.mu.Lock()
	if s.state != open {
		s.mu.Unlock()
		return
	}
	s.endLocked(droppedByPeer, reason)
	s.mu.Unlock()
	s.gen.forget(s.id)
	if h := s.handlers.Disconnected; h != nil {
		s.callback(func() { h(s, reason) })
	}
}
