package emulator

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// link is one of the module's five connection slots, bridged to a real host
// TCP socket. The firmware goroutine owns every field; the link's reader
// goroutine only uses conn, req and stop.
type link struct {
	id     int
	conn   net.Conn // nil while CIPSTART is connecting
	server bool     // accepted by AT+CIPSERVER (tetype 1)
	remote netip.AddrPort
	lport  int

	req  chan int      // read requests (byte counts) from the firmware, cap 1
	stop chan struct{} // closed when the firmware drops the link

	connecting bool // CIPSTART in progress: the slot is taken
	closing    bool // CIPCLOSE in progress: events are ignored
	reading    bool // a read request is outstanding
	pending    int  // bytes read but held by the interleave fault
	buf        []byte
	peerGone   bool // the socket reached EOF or failed
	reported   bool // CLOSED was printed while data stays buffered (1.x)
	notified   bool // 2.x: a passive notice was printed since the last read
	fresh      bool // a server link that has had no data yet
	lastActive time.Time
}

// linkEvent is the result of one read on a link's socket.
type linkEvent struct {
	l    *link
	data []byte
	err  error
}

// open reports whether the host sees l as an open link.
func (l *link) open() bool { return l != nil && !l.connecting && !l.reported && !l.closing }

// slotFree reports whether link id may be given to a new connection. A 1.x
// link whose CLOSED was printed is free even if unread data remains; that
// data is discarded when the slot is reused.
func (s *session) slotFree(id int) bool {
	l := s.links[id]
	return l == nil || l.reported
}

func (s *session) anyLink() bool {
	for _, l := range s.links {
		if l != nil && !l.reported {
			return true
		}
	}
	return false
}

// claim reserves slot id, discarding a 1.x zombie left in it.
func (s *session) claim(id int, l *link) {
	if z := s.links[id]; z != nil {
		s.dropLink(z)
	}
	l.id = id
	s.links[id] = l
}

// activate bridges l to conn and starts its reader goroutine. The CONNECT
// message must already be queued, so +IPD never precedes it.
func (s *session) activate(l *link, conn net.Conn, server bool, lport int) {
	l.conn, l.server, l.lport, l.connecting = conn, server, lport, false
	if ap, err := netip.ParseAddrPort(conn.RemoteAddr().String()); err == nil {
		l.remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if lport == 0 {
		if ap, err := netip.ParseAddrPort(conn.LocalAddr().String()); err == nil {
			l.lport = int(ap.Port())
		}
	}
	l.req = make(chan int, 1)
	l.stop = make(chan struct{})
	l.fresh = server
	l.lastActive = time.Now()
	s.hadLink = true
	s.e.count(func(st *Stats) { st.LinksOpened++ })
	s.wg.Add(1)
	go s.readLink(l)
}

// readLink is the link's reader goroutine: it reads the socket only when the
// firmware asks (that is the flow control) and hands each result back.
func (s *session) readLink(l *link) {
	defer s.wg.Done()
	for {
		var n int
		select {
		case n = <-l.req:
		case <-l.stop:
			return
		}
		buf := make([]byte, n)
		k, err := l.conn.Read(buf)
		select {
		case s.events <- linkEvent{l: l, data: buf[:k], err: err}:
		case <-l.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// dropLink closes l's socket, stops its reader and frees its slot, without
// printing anything.
func (s *session) dropLink(l *link) {
	if l.conn != nil {
		l.conn.Close()
	}
	if l.stop != nil {
		select {
		case <-l.stop:
		default:
			close(l.stop)
		}
	}
	if s.links[l.id] == l {
		s.links[l.id] = nil
	}
}

// pump asks link readers for more socket data where there is room: in active
// mode while the output queue is short, in passive mode while the link's
// receive buffer has space (so a full buffer holds the peer back by TCP).
func (s *session) pump() {
	if s.rx == rxResetting {
		return
	}
	room := s.out.pending()+s.deferredBytes < lowWater
	for _, l := range s.links {
		if l == nil || l.conn == nil || l.reading || l.peerGone || l.closing || l.reported {
			continue
		}
		n := 0
		if s.set.passive {
			n = min(s.bufCap()-len(l.buf)-l.pending, mss)
		} else if room {
			n = mss
		}
		if n <= 0 {
			continue
		}
		l.reading = true
		l.req <- n
	}
}

func (s *session) bufCap() int {
	if s.v1 {
		return bufCap17
	}
	return bufCap22
}

func (s *session) onLinkEvent(ev linkEvent) {
	if s.links[ev.l.id] != ev.l {
		return // dropped meanwhile
	}
	ev.l.reading = false
	if s.faults.enabled(FaultInterleave) {
		ev.l.pending += len(ev.data)
		s.deferredBytes += len(ev.data)
		s.hold(ev)
		return
	}
	s.applyLinkEvent(ev)
}

func (s *session) applyLinkEvent(ev linkEvent) {
	l := ev.l
	if s.links[l.id] != l || l.closing {
		return
	}
	if len(ev.data) > 0 {
		gen := s.gen
		s.onData(l, ev.data)
		if s.gen != gen || s.links[l.id] != l {
			return
		}
	}
	if ev.err != nil {
		s.onPeerGone(l)
	}
}

// onPeerGone handles EOF or an error on the socket: "<id>,CLOSED", except in
// passive mode with data still buffered, where 2.x withholds CLOSED until the
// data is read or CIPCLOSE is sent, and 1.x prints it but keeps the data
// readable.
func (s *session) onPeerGone(l *link) {
	if l.peerGone {
		return // reported already (burst-accept saw the close first)
	}
	l.peerGone = true
	l.conn.Close()
	if s.set.passive && len(l.buf) > 0 {
		if s.v1 {
			l.reported = true
			s.emit(s.closedMsg(l.id))
		}
		return
	}
	s.emit(s.closedMsg(l.id))
	s.dropLink(l)
}

// idPrefix is "<id>," in multiple-connection mode and empty in single mode.
func (s *session) idPrefix(id int) string {
	if s.set.mux {
		return strconv.Itoa(id) + ","
	}
	return ""
}

func (s *session) closedMsg(id int) string  { return s.idPrefix(id) + "CLOSED\r\n" }
func (s *session) connectMsg(id int) string { return s.idPrefix(id) + "CONNECT\r\n" }

// connectLine announces a new link: "<id>,CONNECT", or with the AT+SYSMSG
// detail bit "+LINK_CONN:0,<id>,"TCP",<0 client/1 server>,"<ip>",<rport>,<lport>".
func (s *session) connectLine(id int, conn net.Conn, server bool, lport int) string {
	if s.set.sysmsg&2 == 0 || !s.set.mux {
		return s.connectMsg(id)
	}
	remote, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	if lport == 0 {
		local, _ := netip.ParseAddrPort(conn.LocalAddr().String())
		lport = int(local.Port())
	}
	cs := 0
	if server {
		cs = 1
	}
	return fmt.Sprintf("+LINK_CONN:0,%d,\"TCP\",%d,\"%s\",%d,%d\r\n", id, cs, remote.Addr().Unmap(), remote.Port(), lport)
}

// checkIdle closes server-side links idle for longer than AT+CIPSTO.
func (s *session) checkIdle() {
	limit := time.Duration(s.set.sto) * time.Second
	if s.faults.enabled(FaultIdleTimeout) {
		limit = time.Second
	}
	if s.rx == rxResetting || limit == 0 {
		return
	}
	for _, l := range s.links {
		if l.open() && l.server && !l.peerGone && time.Since(l.lastActive) > limit {
			s.log.Debug("server link idle timeout", "id", l.id)
			s.faults.always(FaultIdleTimeout)
			s.emit(s.closedMsg(l.id))
			s.dropLink(l)
		}
	}
}
