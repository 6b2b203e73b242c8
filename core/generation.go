package core

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/ifsock/ifsock/internal/idset"
	"github.com/ifsock/ifsock/internal/remote"
	"github.com/ifsock/ifsock/sdk"
)

// generation is one run of an interface's driver: one process (or one
// in-process instance). It implements sdk.Events for that driver and maps
// its socket ids to Sockets; a restarted driver is a new generation, so ids
// of different runs never mix.
type generation struct {
	iface  *Interface
	driver sdk.Driver
	proc   *remote.Driver // the plugin process behind driver; nil in process
	info   sdk.Info

	mu      sync.Mutex
	sockets map[sdk.Socket]*Socket
	pending map[sdk.Socket]chan struct{} // events waiting for Connect/Listen to return
	gone    idset.Set                    // sockets closed or dropped: later events are ignored
	closed  bool
	done    chan struct{}
}

// exited reports whether the driver's process is gone (never, for a
// driver in process).
func (g *generation) exited() bool {
	if g.proc == nil {
		return false
	}
	select {
	case <-g.proc.Exited():
		return true
	default:
		return false
	}
}

func newGeneration(i *Interface, d sdk.Driver, proc *remote.Driver) *generation {
	return &generation{
		iface:   i,
		driver:  d,
		proc:    proc,
		sockets: make(map[sdk.Socket]*Socket),
		pending: make(map[sdk.Socket]chan struct{}),
		done:    make(chan struct{}),
	}
}

// register adds a socket that Connect, Listen or an accept made, and
// releases events that were waiting for it.
func (g *generation) register(s *Socket) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.sockets[s.id] = s
	if ch, ok := g.pending[s.id]; ok {
		close(ch)
		delete(g.pending, s.id)
	}
	return true
}

// forget removes a socket for good: later events of its id are ignored.
func (g *generation) forget(id sdk.Socket) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sockets, id)
	g.gone.Add(uint64(id))
}

// lookup returns the Socket of id, waiting for it to be registered when the
// driver raised its event before Connect or Listen returned. nil means the
// event is to be ignored.
func (g *generation) lookup(id sdk.Socket) *Socket {
	g.mu.Lock()
	if s := g.sockets[id]; s != nil {
		g.mu.Unlock()
		return s
	}
	if g.gone.Has(uint64(id)) || g.closed {
		g.mu.Unlock()
		return nil
	}
	ch, ok := g.pending[id]
	if !ok {
		ch = make(chan struct{})
		g.pending[id] = ch
	}
	g.mu.Unlock()
	t := time.NewTimer(g.iface.adoptTimeout())
	defer t.Stop()
	select {
	case <-ch:
	case <-g.done:
		return nil
	case <-t.C:
		g.iface.logger.Warn("event for a socket no call returned; closing it", "socket", uint64(id))
		g.mu.Lock()
		delete(g.pending, id)
		g.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), g.iface.callTimeout())
		defer cancel()
		_ = g.driver.CloseSocket(ctx, id)
		g.forget(id)
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sockets[id]
}

// Accepted implements sdk.Events: the new socket inherits the listener's
// user value and handlers (rule 4), then the connect handler runs.
func (g *generation) Accepted(listener, id sdk.Socket, peer netip.AddrPort) {
	l := g.lookup(listener)
	if l == nil || !l.isOpen() {
		// The listener is gone: nobody wants this socket.
		ctx, cancel := context.WithTimeout(context.Background(), g.iface.callTimeout())
		defer cancel()
		_ = g.driver.CloseSocket(ctx, id)
		return
	}
	s := newSocket(g, id, false, l.handlers, l.User())
	s.peer = peer
	s.listener = l
	if !g.register(s) {
		return
	}
	if h := l.handlers.Connected; h != nil {
		s.callback(func() { h(s) })
	}
}

// Received implements sdk.Events: the receive handler runs on the caller's
// goroutine, so a slow handler holds back this socket's driver side, which
// is the flow control (rule 6).
func (g *generation) Received(id sdk.Socket, data []byte) error {
	s := g.lookup(id)
	if s == nil {
		return sdk.Errorf(sdk.ErrClosed, "%v is not open", id)
	}
	return s.received(data)
}

// Finished implements sdk.Events: the peer finished sending.
func (g *generation) Finished(id sdk.Socket) {
	if s := g.lookup(id); s != nil {
		s.finished()
	}
}

// Dropped implements sdk.Events.
func (g *generation) Dropped(id sdk.Socket, reason error) {
	if s := g.lookup(id); s != nil {
		s.dropped(reason)
	}
}

// close closes the driver of this generation. With a nil reason (the host
// is closing) its sockets are closed without callbacks. With a reason (the
// driver process died) the driver's proxy is the one owner of the drops:
// it has already queued, after the events that had arrived, each socket's
// one Dropped(ErrDriverExited), and close waits (boundedly) for them to be
// delivered while it closes the proxy.
func (g *generation) close(reason error) error {
	// Events waiting for a Connect that will never return stop waiting now;
	// sockets already known keep getting what the driver had sent.
	socks := g.markClosed()
	if reason == nil {
		for _, s := range socks {
			s.markClosed()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), g.iface.callTimeout())
	defer cancel()
	return g.driver.Close(ctx)
}

// markClosed stops taking events and returns the sockets still registered.
func (g *generation) markClosed() []*Socket {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	close(g.done)
	socks := make([]*Socket, 0, len(g.sockets))
	for _, s := range g.sockets {
		socks = append(socks, s)
	}
	g.mu.Unlock()
	return socks
}
