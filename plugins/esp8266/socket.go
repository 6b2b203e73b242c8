package esp8266

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/ifsock/ifsock/sdk"
)

// socket is one socket of a session: a connection on one of the module's
// links, or the listener (link -1).
type socket struct {
	id       sdk.Socket
	link     int
	listener bool
	port     int     // the listener's port (written under session.mu)
	parent   *socket // the listener that accepted this socket
	// lport is a connected link's local port once AT+CIPSTATUS told it
	// (Local asks; 0 until then). Guarded by session.mu.
	lport int
	// peer is written once, before peerReady is closed.
	peer      netip.AddrPort
	peerReady chan struct{}
	// sendTurn is a one-slot semaphore: Sends on one socket take turns.
	sendTurn chan struct{}
	wake     chan struct{} // cap 1: wakes the deliverer

	// guarded by session.mu
	q       []sockEvent // events not yet delivered
	qBytes  int         // data bytes in q
	started bool        // the deliverer runs
	closed  bool        // closed locally or by Close: no event starts any more
	gone    bool        // dropped or closed: calls fail with ErrClosed
	noRead  bool        // Events.Received refused data: read no more
	// passive mode
	more             bool // data may wait in the module
	reading          bool // an AT+CIPRECVDATA for it is under way
	noticeDuringRead bool // a +IPD notice came while reading
	peerClosed       bool // CLOSED came; report it once the module's data is read
	noticed          bool // data of it was announced (a notice, or AT+CIPRECVLEN?)
	// avail is what the module holds for this socket as far as the driver
	// knows: the latest notice's total (1.7 sends running totals, 2.x one
	// total per read) less what reads returned since, in stream order. A
	// read may return less than asked while more is buffered: the driver
	// reads on while avail says so.
	avail int
	// 1.x passive mode: CLOSED came and the data the notices told of is
	// read; closeCheck asks the pump to confirm with AT+CIPRECVLEN? that
	// nothing is left before the drop, closeChecked says it did.
	closeCheck, closeChecked bool
}

type evKind int

const (
	evAccepted evKind = iota
	evData
	evDropped
)

type sockEvent struct {
	kind evKind
	data []byte
	err  error
}

func (s *session) newSocket(link int) *socket {
	return &socket{
		id:        sdk.Socket(s.ids.Add(1)),
		link:      link,
		peerReady: make(chan struct{}),
		sendTurn:  make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
	}
}

func (sk *socket) signal() {
	select {
	case sk.wake <- struct{}{}:
	default:
	}
}

// enqueue appends an event for sk's deliverer. Called with s.mu held.
func (s *session) enqueue(sk *socket, e sockEvent) {
	sk.q = append(sk.q, e)
	sk.qBytes += len(e.data)
	sk.signal()
}

// release forgets sk as an open socket and frees its slot. Called with s.mu
// held.
func (s *session) release(sk *socket) {
	if s.sockets[sk.id] == sk {
		delete(s.sockets, sk.id)
		if !sk.listener {
			s.used-- // the listener takes no link
		}
	}
	if s.listener == sk {
		s.listener = nil
	}
	if sk.link >= 0 && s.links[sk.link].sock == sk {
		s.links[sk.link] = link{}
	}
}

// dropLocked drops sk: its last event is Dropped(reason), after the data
// already queued. Called with s.mu held.
func (s *session) dropLocked(sk *socket, reason error) {
	if sk.gone {
		return
	}
	sk.gone = true
	s.release(sk)
	s.enqueue(sk, sockEvent{kind: evDropped, err: reason})
	s.log.Debug("dropped", "socket", sk.id, "reason", reason)
}

// closeLocal closes sk locally: no event of it starts any more. Called with
// s.mu held.
func (s *session) closeLocal(sk *socket) {
	sk.closed, sk.gone = true, true
	s.release(sk)
	clear(sk.q)
	sk.q, sk.qBytes = nil, 0
	sk.signal()
}

// start starts sk's deliverer. Called with s.mu held.
func (s *session) start(sk *socket) {
	if sk.started {
		return
	}
	sk.started = true
	s.spawn(func() { s.deliver(sk) })
}

// deliver is a socket's deliverer goroutine: it raises the socket's events,
// one at a time and in order. Events.Received may block (the host's window
// for the socket is full): only this socket waits, and in passive mode the
// module (and so the TCP peer) is held back because the pump reads a
// socket's data only while its queue has room.
func (s *session) deliver(sk *socket) {
	for {
		s.mu.Lock()
		for len(sk.q) == 0 && !sk.closed {
			s.mu.Unlock()
			select {
			case <-sk.wake:
			case <-s.ctx.Done():
			}
			s.mu.Lock()
			if s.closing {
				sk.closed = true
			}
		}
		if sk.closed {
			s.mu.Unlock()
			return
		}
		e := sk.q[0]
		sk.q[0] = sockEvent{}
		sk.q = sk.q[1:]
		sk.qBytes -= len(e.data)
		noRead := sk.noRead
		s.mu.Unlock()
		switch e.kind {
		case evAccepted:
			select {
			case <-sk.peerReady:
			case <-s.ctx.Done():
				return
			}
			s.mu.Lock()
			orphan := sk.parent.closed
			closed := sk.closed
			s.mu.Unlock()
			if closed {
				return
			}
			if orphan {
				// The listener closed before this socket was announced:
				// nobody would own it.
				s.mu.Lock()
				s.closeLocal(sk)
				s.closeLinkAsync(sk.link)
				s.mu.Unlock()
				return
			}
			s.ev.Accepted(sk.parent.id, sk.id, sk.peer)
		case evData:
			s.kickPump()
			if noRead {
				continue
			}
			if err := s.ev.Received(sk.id, e.data); err != nil {
				s.log.Debug("host stopped receiving", "socket", sk.id, "error", err)
				s.mu.Lock()
				sk.noRead = true
				for i := range sk.q {
					if sk.q[i].kind == evData {
						sk.qBytes -= len(sk.q[i].data)
						sk.q[i].data = nil
					}
				}
				s.mu.Unlock()
			}
		case evDropped:
			s.ev.Dropped(sk.id, e.err)
			s.mu.Lock()
			sk.closed = true
			s.mu.Unlock()
			return
		}
	}
}

// pump is the passive-mode fetch goroutine: it reads a socket's data from
// the module (AT+CIPRECVDATA) only while that socket's queue has room, in
// turn over the sockets, so a slow host holds back its own peer only.
func (s *session) pump() {
	defer s.wg.Done()
	for {
		select {
		case <-s.pumpWake:
		case <-s.ctx.Done():
			return
		}
		for {
			s.mu.Lock()
			sk, n := s.pickFetch()
			if sk != nil {
				sk.reading, sk.noticeDuringRead = true, false
			}
			if sk == nil {
				check := s.closeCheckDue()
				s.mu.Unlock()
				if !check {
					break
				}
				// Sockets closed by the peer with their notified data
				// read: ask the module whether any is left (a notice
				// may have been lost, or counted one segment only).
				s.recvLen(s.ctx)
				s.mu.Lock()
				s.closeChecksDone()
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
			s.fetch(sk, n)
		}
	}
}

// peerClosedDrained reports the peer's close of a socket whose data the
// driver read: Dropped(ErrPeerClosed), after that data. On 1.x, which
// prints CLOSED while data may still wait in the module, the pump first
// asks AT+CIPRECVLEN? whether any is left. Called with s.mu held.
func (s *session) peerClosedDrained(sk *socket) {
	if sk.gone {
		return
	}
	if s.dialect == 1 && !sk.closeChecked {
		sk.closeCheck = true
		s.kickPump()
		return
	}
	s.log.Debug("closed by the peer", "socket", sk.id, "link", sk.link)
	s.dropLocked(sk, sdk.ErrPeerClosed)
}

// closeCheckDue reports whether a socket waits for its close check. Called
// with s.mu held.
func (s *session) closeCheckDue() bool {
	if s.closing {
		return false
	}
	for i := range s.links {
		if sk := s.links[i].sock; sk != nil && sk.closeCheck && !sk.gone {
			return true
		}
	}
	return false
}

// closeChecksDone settles the close checks after an AT+CIPRECVLEN? (which
// marked the sockets with data left for reading). Called with s.mu held.
func (s *session) closeChecksDone() {
	for i := range s.links {
		sk := s.links[i].sock
		if sk == nil || !sk.closeCheck {
			continue
		}
		sk.closeCheck, sk.closeChecked = false, true
		if !sk.more && !sk.reading {
			s.peerClosedDrained(sk)
		}
	}
}

// maxRead is the most one AT+CIPRECVDATA asks for.
const maxRead = 2048

// pickFetch returns the next socket to read from the module and how much to
// ask, or nil. Called with s.mu held.
func (s *session) pickFetch() (*socket, int) {
	if !s.passive || s.closing {
		return nil, 0
	}
	want := min(maxRead, s.cfg.buffer)
	for i := 0; i < numLinks; i++ {
		id := (s.fetchNext + i) % numLinks
		l := &s.links[id]
		if l.state != linkOpen || l.sock == nil {
			continue
		}
		sk := l.sock
		if sk.gone || sk.noRead || sk.reading {
			if sk.peerClosed && !sk.reading && !sk.gone {
				s.dropLocked(sk, sdk.ErrPeerClosed)
			}
			continue
		}
		if !sk.more {
			if sk.peerClosed {
				s.peerClosedDrained(sk)
			}
			continue
		}
		room := s.cfg.buffer - sk.qBytes
		if room < want {
			continue
		}
		s.fetchNext = id + 1
		return sk, min(room, maxRead)
	}
	return nil, 0
}

var errSkip = errors.New("skipped")

// fetch reads up to n bytes of sk's data from the module.
func (s *session) fetch(sk *socket, n int) {
	id := sk.link
	rep, err := s.do(s.ctx, &request{
		recvData: true,
		recvSock: sk,
		prepare: func() (string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if sk.gone || s.links[id].sock != sk {
				return "", errSkip
			}
			return fmt.Sprintf("AT+CIPRECVDATA=%d,%d", id, n), nil
		},
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	sk.reading = false
	switch {
	case err != nil:
		if !errors.Is(err, sdk.ErrTimeout) {
			sk.more = false
		}
	case rep.final != tokOK:
		// The module answers ERROR when nothing is buffered.
		sk.more, sk.avail = false, 0
	default:
		if len(rep.data) > n {
			s.log.Warn("module sent more than asked", "socket", sk.id, "asked", n, "got", len(rep.data))
		}
		if rep.addr.IsValid() {
			s.learnPeer(sk, rep.addr) // 2.x +CIPRECVDATA with CIPDINFO
		}
		if len(rep.data) > 0 && !sk.gone && !sk.noRead {
			s.enqueue(sk, sockEvent{kind: evData, data: rep.data})
		}
		switch {
		case len(rep.data) == 0:
			sk.more, sk.avail = false, 0
		case len(rep.data) < n:
			// A short reply is not the end when the module's total says
			// more is buffered: the module may answer fewer bytes than
			// asked (1.x, and after CLOSED the data stays readable).
			sk.more = sk.avail > 0
			if sk.more {
				s.log.Debug("short read; more is buffered in the module", "socket", sk.id, "got", len(rep.data), "left", sk.avail)
			}
		}
	}
	if sk.noticeDuringRead {
		// A notice came while the read was under way: it may tell of data
		// that came after the read (2.x sends no other notice until the
		// next read), so read again whatever the read said.
		sk.more = true
		sk.noticeDuringRead = false
	}
	if sk.peerClosed && !sk.more {
		s.peerClosedDrained(sk)
	}
}
