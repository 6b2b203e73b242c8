package sdktest

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// recorder is the suite's sdk.Events. It keeps every socket's events and
// reports each breach of the ordering rules (design rules 2 and 3) as it
// happens:
//   - an event for a socket that no Connect, Listen or Accepted announced
//     (it waits a moment first: a driver may raise events for a client
//     socket before its Connect returned);
//   - two events of one socket at once (an in-flight counter per socket);
//   - Accepted after another event of the socket, or naming a socket that is
//     not an open listener;
//   - Received or a second Dropped after Dropped, or on a listener;
//   - Finished (the peer's FIN, rule 11) on a listener, twice, after
//     Dropped, or from a driver whose Info.CanHalfClose is false; Received
//     after Finished (Finished follows the last data);
//   - any event of a socket once its CloseSocket returned, and any event at
//     all once the driver's Close returned;
//   - Dropped with no reason.
//
// Received and Finished run the socket's handlers synchronously, so a slow
// handler is really slow for the driver, and a handler may call the driver
// (Send, CloseSocket) the way an application does. Byte order and
// completeness are checked by the subtests, which compare what a socket
// received with what was sent.
type recorder struct {
	report    func(format string, args ...any) // fails the subtest, from any goroutine
	claimWait time.Duration                    // how long an event waits for its socket to be announced
	done      chan struct{}                    // closed at teardown: waits end

	mu      sync.Mutex
	socks   map[sdk.Socket]*conn
	closing bool // the driver's Close was called (or teardown began)
	closed  bool // the driver's Close returned
	noDrops bool // any Dropped is a failure (a subtest in which none may happen)
	// halfClose is the driver's Info.CanHalfClose: only such a driver may
	// raise Finished.
	halfClose bool
}

func newRecorder(report func(string, ...any), claimWait time.Duration) *recorder {
	return &recorder{
		report:    report,
		claimWait: claimWait,
		done:      make(chan struct{}),
		socks:     make(map[sdk.Socket]*conn),
	}
}

var _ sdk.Events = (*recorder)(nil)

// get returns the state of id, making it on first sight; r.mu must be held.
func (r *recorder) get(id sdk.Socket) *conn {
	c := r.socks[id]
	if c == nil {
		c = &conn{id: id, rec: r, claimed: make(chan struct{}), changed: make(chan struct{})}
		r.socks[id] = c
	}
	return c
}

// enter starts an event of id: it counts the event in flight and reports
// concurrency and events after Close. The caller must call c.leave.
func (r *recorder) enter(id sdk.Socket, event string) *conn {
	r.mu.Lock()
	c := r.get(id)
	c.seen++
	closed := r.closed
	r.mu.Unlock()
	if closed {
		r.report("%s on %v after the driver's Close returned (no events may follow Close)", event, id)
	}
	if n := c.inflight.Add(1); n > 1 {
		r.report("%s on %v while another event of it runs (%d at once): a socket's events must never run concurrently (rule 2)", event, id, n)
	}
	return c
}

// awaitClaim waits until c is announced; false (reported) if it never is.
func (r *recorder) awaitClaim(c *conn, event string) bool {
	select {
	case <-c.claimed:
		return true
	default:
	}
	t := time.NewTimer(r.claimWait)
	defer t.Stop()
	select {
	case <-c.claimed:
		return true
	case <-t.C:
		r.report("%s on %v, which no Connect, Listen or Accepted announced within %v: events for unknown sockets are errors (an accepted socket's first event must be Accepted)", event, c.id, r.claimWait)
	case <-r.done:
		r.report("%s on %v, which no Connect, Listen or Accepted announced before the subtest ended", event, c.id)
	}
	return false
}

// claim records that a call of the suite returned socket id; it reports an
// id the driver already used.
func (r *recorder) claim(id sdk.Socket, kind connKind, h handler, call string) *conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.get(id)
	if c.kind != kindUnknown {
		r.report("%s returned %v, which is already in use as a %s socket: ids must never be reused", call, id, c.kind)
		return c
	}
	if id == 0 {
		r.report("%s returned socket 0, which is never a valid Socket", call)
	}
	c.kind = kind
	c.handler = h
	close(c.claimed)
	c.notify()
	return c
}

// Accepted implements sdk.Events.
func (r *recorder) Accepted(listener, sock sdk.Socket, peer netip.AddrPort) {
	c := r.enter(sock, "Accepted")
	defer c.leave()
	r.mu.Lock()
	l := r.get(listener)
	r.mu.Unlock()
	if !r.awaitClaim(l, fmt.Sprintf("Accepted of %v naming it as listener", sock)) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case l.kind != kindListener:
		r.report("Accepted of %v names %v as its listener, but that is a %s socket", sock, listener, l.kind)
	case l.closeReturned:
		r.report("Accepted of %v names listener %v, whose CloseSocket already returned", sock, listener)
	case l.dropped:
		r.report("Accepted of %v names listener %v, which was already dropped", sock, listener)
	}
	if c.kind != kindUnknown || c.seen > 1 {
		r.report("Accepted of %v, which already had other events or is a %s socket: Accepted must be a socket's first event (rule 2)", sock, c.kind)
		return
	}
	if !peer.IsValid() || peer.Port() == 0 {
		r.report("Accepted of %v with peer %v: want a valid address and port", sock, peer)
	}
	c.kind = kindAccepted
	c.listener = l
	c.accepted = peer
	c.handler = l.handler // rule 4: an accepted socket inherits the listener's handlers
	c.onFinished = l.onFinished
	close(c.claimed)
	l.queue = append(l.queue, c)
	c.notify()
	l.notify()
}

// Received implements sdk.Events: it records data, then runs the socket's
// handler before returning.
func (r *recorder) Received(sock sdk.Socket, data []byte) error {
	c := r.enter(sock, "Received")
	defer c.leave()
	if !r.awaitClaim(c, "Received") {
		return sdk.Errorf(sdk.ErrClosed, "sdktest: received on unknown %v", sock)
	}
	r.mu.Lock()
	switch {
	case c.kind == kindListener:
		r.report("Received on %v, which is a listener", sock)
	case c.dropped:
		r.report("Received %d bytes on %v after its Dropped: Dropped must be the last event (rule 2)", len(data), sock)
	case c.finished:
		r.report("Received %d bytes on %v after its Finished: Finished comes after the last data the peer sent (rule 11)", len(data), sock)
	case c.closeReturned:
		r.report("Received %d bytes on %v after its CloseSocket returned (no events may follow a local close)", len(data), sock)
	}
	if len(data) == 0 {
		c.empty++
	}
	if c.closeCalled || r.closing {
		r.mu.Unlock()
		return sdk.Errorf(sdk.ErrClosed, "sdktest: %v is closing", sock)
	}
	c.n += len(data)
	c.events++
	if c.n <= keepLimit {
		c.chunks = append(c.chunks, data) // kept, not copied: a driver that reuses data gets caught by the comparison
	} else {
		c.truncated = true
	}
	h := c.handler
	c.notify()
	r.mu.Unlock()
	if h != nil {
		h(c, data)
	}
	return nil
}

// Dropped implements sdk.Events.
func (r *recorder) Dropped(sock sdk.Socket, reason error) {
	c := r.enter(sock, "Dropped")
	defer c.leave()
	if !r.awaitClaim(c, "Dropped") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case c.dropped:
		r.report("second Dropped on %v (%v after %v): a socket is dropped exactly once (rule 2)", sock, reason, c.reason)
	case c.closeReturned:
		r.report("Dropped(%v) on %v after its CloseSocket returned: a local close fires no Dropped (rule 3)", reason, sock)
	case r.noDrops:
		r.report("Dropped(%v) on %v, but nothing in this subtest may drop a socket (Close raises no Dropped)", reason, sock)
	}
	if reason == nil {
		r.report("Dropped on %v with a nil reason: say why (ErrPeerClosed, ErrReset...)", sock)
		reason = errors.New("nil reason")
	}
	c.dropped = true
	c.reason = reason
	c.notify()
}

// beginClose records that the driver is closing: the host wants no more data.
func (r *recorder) beginClose() {
	r.mu.Lock()
	r.closing = true
	r.mu.Unlock()
}

// endClose records that the driver's Close returned: no event may follow.
func (r *recorder) endClose() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
}

// expectNoDrops makes any later Dropped a failure.
func (r *recorder) expectNoDrops() {
	r.mu.Lock()
	r.noDrops = true
	r.mu.Unlock()
}

// finish reports sockets that had events but were never announced, and
// sockets that got empty Received calls.
func (r *recorder) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, c := range r.socks {
		if c.kind == kindUnknown && c.seen > 0 {
			r.report("%v had %d event(s) but no Connect, Listen or Accepted announced it", id, c.seen)
		}
	}
}

// Finished implements sdk.Events: it records the peer's FIN, then runs the
// socket's finished handler before returning.
func (r *recorder) Finished(sock sdk.Socket) {
	c := r.enter(sock, "Finished")
	defer c.leave()
	if !r.awaitClaim(c, "Finished") {
		return
	}
	r.mu.Lock()
	switch {
	case c.kind == kindListener:
		r.report("Finished on %v, which is a listener: only a connection has a peer that finishes", sock)
	case c.finished:
		r.report("second Finished on %v: the peer finishes sending at most once (rule 11)", sock)
	case c.dropped:
		r.report("Finished on %v after its Dropped(%v): Dropped must be the last event (rule 2)", sock, c.reason)
	case c.closeReturned:
		r.report("Finished on %v after its CloseSocket returned (no events may follow a local close)", sock)
	case !r.halfClose:
		r.report("Finished on %v, but Info.CanHalfClose is false: such a driver reports the peer's orderly close as Dropped(ErrPeerClosed)", sock)
	}
	c.finished = true
	h := c.onFinished
	if c.closeCalled || r.closing {
		h = nil // the host no longer wants events of sock
	}
	c.notify()
	r.mu.Unlock()
	if h != nil {
		h(c)
	}
}

// setHalfClose records the driver's Info.CanHalfClose.
func (r *recorder) setHalfClose(can bool) {
	r.mu.Lock()
	r.halfClose = can
	r.mu.Unlock()
}
