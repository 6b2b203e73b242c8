package loopback

import (
	"net/netip"

	"github.com/ifsock/ifsock/sdk"
)

// socket is one socket of the driver: a listener, or one end of a
// connection. Its fields after the first group are guarded by Driver.mu.
type socket struct {
	id       sdk.Socket
	d        *Driver
	listener bool
	port     int            // a listener's port
	local    netip.AddrPort // a connected socket's own address
	remote   netip.AddrPort // a connected socket's peer address
	from     *socket        // the listener that accepted this socket; nil for a client
	peer     *socket        // the other end of the connection; nil for a listener
	sink     sink           // where the socket's goroutine hands its events
	sendLock chan struct{}  // holds one token while a Send runs: each Send's bytes stay together
	done     chan struct{}  // closed when the socket's goroutine has exited
	kill     chan struct{}  // closed by halt: the goroutine stops without more events

	open      bool          // in Driver.socks: not closed locally, not dropped
	stopped   bool          // halt was called
	announced bool          // Accepted was delivered (always true for a client)
	q         []byte        // inbound bytes not delivered yet are q[head:]
	head      int           //
	held      int           // inbound bytes queued or inside a running Received: the window in use
	received  int64         // inbound bytes ever taken, for drop_after
	fin       bool          // the peer finished sending: Finished follows the queued bytes
	finRaised bool          // Finished was raised (or is running): never twice
	eof       error         // the connection broke: Dropped(eof) follows the queued bytes
	wrClosed  bool          // CloseWrite was called: Send is ErrClosed
	peerGone  bool          // the other end closed: sendErr is a reset, and a Send that meets it drops s
	sendErr   error         // why Send on this socket fails although it is still open
	inEvent   bool          // the socket's goroutine is inside a host callback (see Driver)
	wake      chan struct{} // one token: something changed for the socket's goroutine
	space     chan struct{} // closed and replaced when the window frees or the state changes
}

// newSocket returns a socket with its channels made; d.mu must be held.
func (d *Driver) newSocket() *socket {
	d.lastID++
	return &socket{
		id:       d.lastID,
		d:        d,
		open:     true,
		sendLock: make(chan struct{}, 1),
		done:     make(chan struct{}),
		kill:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		space:    make(chan struct{}),
	}
}

// signal wakes the socket's goroutine and every writer waiting for room in
// its window; d.mu must be held.
func (s *socket) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	close(s.space)
	s.space = make(chan struct{})
}

// stop makes the socket's goroutine exit without raising more events;
// d.mu must be held.
func (s *socket) stop() {
	if !s.stopped {
		s.stopped = true
		close(s.kill)
	}
}

// halt marks s closed and stops its goroutine, waking whoever waits on s or
// on its peer; d.mu must be held.
func (s *socket) halt() {
	s.open = false
	s.stop()
	s.signal()
	if s.peer != nil {
		s.peer.signal()
	}
}

// push appends b to the inbound queue; d.mu must be held.
func (s *socket) push(b []byte) {
	if s.head > 0 && len(s.q)+len(b) > cap(s.q) {
		n := copy(s.q, s.q[s.head:])
		s.q = s.q[:n]
		s.head = 0
	}
	s.q = append(s.q, b...)
	s.held += len(b)
	s.received += int64(len(b))
	s.signal()
}

// pop takes up to max queued bytes into a new slice; d.mu must be held.
// The bytes stay counted in held until the Received call ends.
func (s *socket) pop(max int) []byte {
	n := min(len(s.q)-s.head, max)
	out := make([]byte, n)
	copy(out, s.q[s.head:])
	s.head += n
	if s.head == len(s.q) {
		s.q, s.head = s.q[:0], 0
	}
	return out
}

// discard drops the queued bytes; d.mu must be held.
func (s *socket) discard() {
	s.held -= len(s.q) - s.head
	s.q, s.head = nil, 0
	s.signal()
}

// remove takes s out of the driver's tables, freeing its slot and its port;
// d.mu must be held.
func (d *Driver) remove(s *socket) {
	s.open = false
	delete(d.socks, s.id)
	if s.listener {
		if d.listeners[s.port] == s {
			delete(d.listeners, s.port)
		}
	} else if s.from == nil {
		delete(d.ephemeral, int(s.local.Port()))
	}
}

// end says the connection of s broke: its queued bytes are delivered, then
// Dropped(reason) (after Finished, when the peer finished first); meanwhile
// Send on s fails with sendErr. The first reason stays. d.mu must be held.
func (s *socket) end(reason, sendErr error) {
	if !s.open {
		return
	}
	if s.eof == nil {
		s.eof = reason
	}
	if s.sendErr == nil {
		s.sendErr = sendErr
	}
	s.signal()
}

// finish says the other end of s finished sending (its CloseWrite or
// CloseSocket): the bytes it queued to s are delivered, then Finished, and
// s stays open. gone is set when the other end closed fully: from then on
// Send on s fails with a reset, and drops s (as a TCP write to a closed peer
// gets a reset back). d.mu must be held.
func (s *socket) finish(gone bool) {
	if !s.open {
		return
	}
	s.fin = true
	if gone && s.sendErr == nil {
		s.peerGone = true
		s.sendErr = sdk.Errorf(sdk.ErrReset, "send on %v: the peer closed the connection: nothing more can reach it, close this socket", s.id)
	}
	s.signal()
}
