package emulator

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// onData handles bytes read from a link's socket (at most one segment,
// 1460 bytes). Active mode prints them as +IPD at once; passive mode buffers
// them and prints a notice.
func (s *session) onData(l *link, p []byte) {
	l.lastActive = time.Now()
	fresh := l.fresh
	l.fresh = false
	if l.server && !s.resetServed && s.faults.enabled(FaultResetServing) {
		s.resetServed = true
		s.faults.always(FaultResetServing)
		s.reboot(bootWatchdog)
		return
	}
	if !s.set.passive {
		msg := make([]byte, 0, len(p)+40)
		msg = append(msg, s.ipdHead(l, len(p))...)
		msg = append(msg, p...)
		s.emitBytes(msg)
	} else {
		l.buf = append(l.buf, p...)
		// 1.7 prints a notice per segment with the running total; 2.x one
		// notice, then none until the host reads.
		switch {
		case !s.v1 && fresh && s.faults.always(FaultSilentNotice):
			l.notified = true // esp-at#294: no notice, and none until a read
		case s.v1 || !l.notified:
			s.emit(s.notice(l))
			l.notified = true
		}
	}
	if s.faults.fire(FaultReset) {
		s.reboot(bootWatchdog)
	}
}

// ipdHead is "\r\n+IPD,[<id>,]<len>[,<ip>,<port>]:"; the 2.x address is
// quoted.
func (s *session) ipdHead(l *link, n int) string {
	head := "\r\n+IPD," + s.idPrefix(l.id) + strconv.Itoa(n)
	if s.set.dinfo {
		if s.v1 {
			head += fmt.Sprintf(",%s,%d", l.remote.Addr(), l.remote.Port())
		} else {
			head += fmt.Sprintf(",\"%s\",%d", l.remote.Addr(), l.remote.Port())
		}
	}
	return head + ":"
}

// notice is the passive-mode "\r\n+IPD,[<id>,]<buffered total>\r\n".
func (s *session) notice(l *link) string {
	return "\r\n+IPD," + s.idPrefix(l.id) + strconv.Itoa(len(l.buf)) + "\r\n"
}

// cmdCIPRECVDATA reads buffered passive-mode data: AT+CIPRECVDATA=[<id>,]<max>.
// 1.7: "\r\n+CIPRECVDATA,<n>:<data>\r\nOK\r\n"; 2.2: "+CIPRECVDATA:<n>,<data>"
// (with CIPDINFO: "+CIPRECVDATA:<n>,"<ip>",<port>,<data>") then "\r\nOK\r\n".
func cmdCIPRECVDATA(s *session, c *command) {
	if c.kind != kindSet {
		s.fail("", errParamCount)
		return
	}
	id, i := 0, 0
	if s.set.mux {
		n, ok := c.num(0, 0, maxLinks-1)
		if !ok {
			s.fail("", errParamParse)
			return
		}
		id, i = n, 1
	}
	limit, ok := c.num(i, 1, 1<<31-1)
	if !ok || len(c.args) != i+1 {
		s.fail("", errParamParse)
		return
	}
	l := s.links[id]
	if l == nil || l.connecting || l.closing || len(l.buf) == 0 {
		s.fail("", 0) // 2.x logs NO DATA
		return
	}
	if s.v1 {
		limit = min(limit, maxSend)
	}
	n := min(limit, len(l.buf))
	if n > 1 && s.faults.always(FaultShortRead) {
		n = max(1, n*3/8) // fewer than asked and than buffered
	}
	data := l.buf[:n]
	var head string
	switch {
	case s.v1:
		head = fmt.Sprintf("\r\n+CIPRECVDATA,%d:", n)
	case s.set.dinfo:
		head = fmt.Sprintf("+CIPRECVDATA:%d,\"%s\",%d,", n, l.remote.Addr(), l.remote.Port())
	default:
		head = fmt.Sprintf("+CIPRECVDATA:%d,", n)
	}
	msg := make([]byte, 0, len(head)+n+6)
	msg = append(append(append(msg, head...), data...), "\r\nOK\r\n"...)
	l.buf = append([]byte(nil), l.buf[n:]...)
	s.emitBytes(msg)
	l.notified = false
	switch {
	case len(l.buf) > 0 && !s.v1:
		// 2.x: a fresh notice for what is left (Zephyr relies on it).
		s.emit(s.notice(l))
		l.notified = true
	case len(l.buf) > 0:
	case l.reported:
		s.dropLink(l) // 1.x: CLOSED was printed already
	case l.peerGone:
		s.emit(s.closedMsg(l.id)) // 2.x: the withheld CLOSED
		s.dropLink(l)
	}
}

// cmdCIPRECVLEN: AT+CIPRECVLEN? lists buffered bytes per link; idle links
// are 0 on 1.7 and -1 on 2.x.
func cmdCIPRECVLEN(s *session, c *command) {
	if c.kind != kindQuery {
		s.fail("", errParamCount)
		return
	}
	vals := make([]string, maxLinks)
	for id, l := range s.links {
		switch {
		case l != nil && !l.connecting && (!l.reported || len(l.buf) > 0):
			vals[id] = strconv.Itoa(len(l.buf))
		case s.v1:
			vals[id] = "0"
		default:
			vals[id] = "-1"
		}
	}
	s.emit("+CIPRECVLEN:" + strings.Join(vals, ",") + "\r\n\r\nOK\r\n")
}
