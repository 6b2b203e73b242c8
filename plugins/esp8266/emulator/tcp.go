package emulator

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// errDNS is the emulated resolver's failure (dns-fail fault, no IPv4 answer).
var errDNS = errors.New("host name not resolved")

// resolve turns host into an IPv4 address with the host's resolver, as the
// module's own DNS client would. IP literals are not looked up.
func resolve(ctx context.Context, host string, fail bool) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("%s is not an ipv4 address", host)
		}
		return a.Unmap(), nil
	}
	if fail {
		return netip.Addr{}, errDNS
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, errDNS
	}
	return addrs[0].Unmap(), nil
}

// isName reports whether host is a name (not an IP literal).
func isName(host string) bool {
	_, err := netip.ParseAddr(host)
	return err != nil
}

// cmdCIPSTART opens a TCP link: [<id>,]"TCP","<host>",<port>[,<keepalive>].
// It is asynchronous (DNS, connect); success prints CONNECT then OK, a
// refused connection ERROR then CLOSED.
func cmdCIPSTART(s *session, c *command) {
	if c.kind != kindSet {
		s.fail("", errParamCount)
		return
	}
	id, i := 0, 0
	if s.set.mux {
		n, ok := c.num(0, 0, maxLinks-1)
		if !ok {
			s.fail("ID ERROR", errParamParse)
			return
		}
		id, i = n, 1
	}
	typ, ok1 := c.str(i)
	host, ok2 := c.str(i + 1)
	port, ok3 := c.num(i+2, 1, 65535)
	if !ok1 || !ok2 || !ok3 || len(c.args) > i+4 {
		s.fail("Miss param", errParamParse)
		return
	}
	if typ != "TCP" {
		s.log.Warn("only TCP links are emulated", "type", typ)
		s.fail("Link type ERROR", errParamParse)
		return
	}
	if a, err := netip.ParseAddr(host); err == nil && !a.Unmap().Is4() {
		s.fail("IP ERROR", errParamParse)
		return
	}
	if !s.joined {
		s.fail("no ip", 0)
		return
	}
	if !s.slotFree(id) {
		s.fail("ALREADY CONNECTED", 0)
		return
	}
	l := &link{connecting: true}
	s.claim(id, l)
	dnsFail := isName(host) && s.faults.always(FaultDNSFail)
	s.startAsync()
	latency := s.cfg.Latency
	s.async(func(ctx context.Context) (func(), func()) {
		sleepCtx(ctx, latency)
		addr, err := resolve(ctx, host, dnsFail)
		if err != nil {
			return func() {
				s.log.Debug("cipstart: dns failure", "host", host, "error", err)
				s.free(l)
				s.endAsync()
				s.fail("DNS Fail", 0)
			}, nil
		}
		d := net.Dialer{Timeout: dialTime}
		conn, err := d.DialContext(ctx, "tcp4", netip.AddrPortFrom(addr, uint16(port)).String())
		if err != nil {
			return func() {
				s.log.Debug("cipstart: connect failed", "host", host, "port", port, "error", err)
				s.free(l)
				s.endAsync()
				s.emit("\r\nERROR\r\n")
				s.emit(s.closedMsg(id))
			}, nil
		}
		return func() {
				if s.links[id] != l {
					conn.Close()
					return
				}
				s.endAsync()
				s.emit(s.connectLine(id, conn, false, 0) + "\r\nOK\r\n")
				s.activate(l, conn, false, 0)
			}, func() {
				conn.Close()
			}
	})
}

// free releases a slot that was claimed but never bridged.
func (s *session) free(l *link) {
	if s.links[l.id] == l {
		s.links[l.id] = nil
	}
}

// cmdCIPDOMAIN resolves a name: 1.x prints the address bare, 2.2 quoted.
func cmdCIPDOMAIN(s *session, c *command) {
	name, ok := c.str(0)
	if c.kind != kindSet || !ok || len(c.args) > 2 {
		s.fail("", errParamParse)
		return
	}
	if !s.joined {
		s.fail("DNS Fail", 0)
		return
	}
	dnsFail := isName(name) && s.faults.always(FaultDNSFail)
	s.startAsync()
	latency := s.cfg.Latency
	s.async(func(ctx context.Context) (func(), func()) {
		sleepCtx(ctx, latency)
		addr, err := resolve(ctx, name, dnsFail)
		return func() {
			s.endAsync()
			switch {
			case err != nil:
				s.log.Debug("cipdomain: dns failure", "name", name, "error", err)
				s.fail("DNS Fail", 0)
			case s.v1:
				s.emit(fmt.Sprintf("+CIPDOMAIN:%s\r\n\r\nOK\r\n", addr))
			default:
				s.emit(fmt.Sprintf("+CIPDOMAIN:\"%s\"\r\n\r\nOK\r\n", addr))
			}
		}, nil
	})
}

// cmdCIPCLOSE closes one link (=<id>), all links (=5), or the single-mode
// link (no parameter). Closing takes Latency; the slot stays taken until
// "<id>,CLOSED" and OK are printed.
func cmdCIPCLOSE(s *session, c *command) {
	var targets []*link
	switch c.kind {
	case kindExec:
		if s.set.mux {
			s.fail("MUX=1", errParamCount)
			return
		}
		l := s.links[0]
		if !l.open() {
			s.fail("", 0)
			return
		}
		targets = append(targets, l)
	case kindSet:
		if !s.set.mux {
			s.fail("MUX=0", errParamCount)
			return
		}
		id, ok := c.num(0, 0, maxLinks)
		if !ok || len(c.args) != 1 {
			s.fail("", errParamParse)
			return
		}
		if id == maxLinks {
			for _, l := range s.links {
				switch {
				case l.open():
					targets = append(targets, l)
				case l != nil && l.reported:
					s.dropLink(l)
				}
			}
			break
		}
		l := s.links[id]
		if l != nil && l.reported {
			// 1.x: CLOSED was already printed; discard the unread data.
			s.dropLink(l)
			s.fail("UNLINK", 0)
			return
		}
		if !l.open() {
			s.fail("UNLINK", 0)
			return
		}
		targets = append(targets, l)
	default:
		s.fail("", errParamCount)
		return
	}
	for _, l := range targets {
		l.closing = true
		l.conn.Close()
	}
	s.startAsync()
	s.after(s.cfg.Latency, func() {
		s.endAsync()
		var b strings.Builder
		for _, l := range targets {
			if s.links[l.id] == l {
				b.WriteString(s.closedMsg(l.id))
				s.dropLink(l)
			}
		}
		b.WriteString("\r\nOK\r\n")
		s.emit(b.String())
	})
}

// cmdCIPSTATUS prints STATUS:<stat> and one +CIPSTATUS line per open link.
func cmdCIPSTATUS(s *session, c *command) {
	if c.kind != kindExec {
		s.fail("", errParamCount)
		return
	}
	stat := 5
	switch {
	case !s.joined:
	case s.anyLink():
		stat = 3
	case s.hadLink:
		stat = 4
	default:
		stat = 2
	}
	var b strings.Builder
	fmt.Fprintf(&b, "STATUS:%d\r\n", stat)
	s.linkLines(&b, "+CIPSTATUS")
	b.WriteString("\r\nOK\r\n")
	s.emit(b.String())
}

// cmdCIPSTATE is the 2.x link list: AT+CIPSTATE?.
func cmdCIPSTATE(s *session, c *command) {
	if c.kind != kindQuery {
		s.fail("", errParamCount)
		return
	}
	var b strings.Builder
	s.linkLines(&b, "+CIPSTATE")
	b.WriteString("\r\nOK\r\n")
	s.emit(b.String())
}

func (s *session) linkLines(b *strings.Builder, prefix string) {
	for _, l := range s.links {
		if !l.open() {
			continue
		}
		tetype := 0
		if l.server {
			tetype = 1
		}
		fmt.Fprintf(b, "%s:%d,\"TCP\",\"%s\",%d,%d,%d\r\n", prefix, l.id, l.remote.Addr(), l.remote.Port(), l.lport, tetype)
	}
}
