package emulator

import (
	"fmt"
	"net/netip"
	"strings"
)

// Fixed identity of the emulated module and its access point.
const (
	apBSSID = "30:23:03:b8:00:5e"
	staMAC  = "5c:cf:7f:80:26:6a"
	apMAC   = "5e:cf:7f:80:26:6a"
	softAP  = "192.168.4.1"
	apChan  = 6
	apRSSI  = -58
)

// cmdCWMODE: AT+CWMODE[_CUR|_DEF] (1.x: 1..3) / AT+CWMODE (2.x: 0..3).
func cmdCWMODE(s *session, c *command) {
	lo := 1
	if !s.v1 {
		lo = 0
	}
	switch c.kind {
	case kindQuery:
		s.emit(fmt.Sprintf("%s:%d\r\n\r\nOK\r\n", c.name, s.set.mode))
	case kindTest:
		s.emit(fmt.Sprintf("%s:(%d-3)\r\n\r\nOK\r\n", c.name, lo))
	case kindSet:
		m, ok := c.num(0, lo, 3)
		if !ok || len(c.args) > 2 || (len(c.args) == 2 && s.v1) {
			s.fail("", errParamParse)
			return
		}
		s.set.mode = m
		s.ok()
		if (m == 0 || m == 2) && s.joined {
			s.wifiLost()
		}
	default:
		s.fail("", errParamCount)
	}
}

// cmdCWJAP joins the access point (asynchronous, 4 x Latency). The query
// reports the AP or, when not joined, "No AP" (1.x) / just OK (2.x).
func cmdCWJAP(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		switch {
		case !s.joined && s.v1:
			s.emit("No AP\r\n\r\nOK\r\n")
		case !s.joined:
			s.ok()
		case s.v1:
			s.emit(fmt.Sprintf("%s:\"%s\",\"%s\",%d,%d,0\r\n\r\nOK\r\n", c.name, atQuote(s.ssid), apBSSID, apChan, apRSSI))
		default:
			s.emit(fmt.Sprintf("+CWJAP:\"%s\",\"%s\",%d,%d,0,0,0,0,0\r\n\r\nOK\r\n", atQuote(s.ssid), apBSSID, apChan, apRSSI))
		}
		return
	case kindSet:
	default:
		s.fail("", errParamCount)
		return
	}
	ssid, ok1 := c.str(0)
	pwd, ok2 := c.str(1)
	if !ok1 || (!ok2 && (s.v1 || len(c.args) > 1)) {
		s.fail("", errParamParse)
		return
	}
	if s.set.mode == 0 || s.set.mode == 2 {
		s.fail("", 0)
		return
	}
	s.startAsync()
	if s.joined {
		s.wifiLost()
	}
	code := 0
	if s.cfg.SSID != "" {
		switch {
		case ssid != s.cfg.SSID:
			code = 3
		case pwd != s.cfg.Password:
			code = 2
		}
	}
	saves := c.name != "+CWJAP_CUR" && (s.v1 || s.sysStore)
	s.after(4*s.cfg.Latency, func() {
		s.endAsync()
		if code != 0 {
			end := "\r\nERROR\r\n"
			if s.v1 {
				end = "\r\nFAIL\r\n"
			}
			s.emit(fmt.Sprintf("+CWJAP:%d\r\n%s", code, end))
			return
		}
		s.joined, s.ssid = true, s.apName(ssid)
		if saves {
			s.storedSSID = s.ssid
		}
		s.emit("WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")
	})
}

// atQuote escapes a string for a quoted AT parameter.
func atQuote(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `,`, `\,`).Replace(v)
}

// cmdCWQAP leaves the AP: OK, then WIFI DISCONNECT and CLOSED for every link.
func cmdCWQAP(s *session, c *command) {
	if c.kind != kindExec {
		s.fail("", errParamCount)
		return
	}
	s.ok()
	if s.joined {
		s.wifiLost()
	}
}

// wifiLost drops the station: WIFI DISCONNECT, then every link is closed.
func (s *session) wifiLost() {
	s.joined = false
	s.emit("WIFI DISCONNECT\r\n")
	var b strings.Builder
	for _, l := range s.links {
		switch {
		case l.open():
			b.WriteString(s.closedMsg(l.id))
			s.dropLink(l)
		case l != nil && !l.connecting:
			s.dropLink(l)
		}
	}
	if b.Len() > 0 {
		s.emit(b.String())
	}
}

// stationIP is the station address, or 0.0.0.0 when not joined.
func (s *session) stationIP() (ip, gw, mask string) {
	if !s.joined {
		return "0.0.0.0", "0.0.0.0", "0.0.0.0"
	}
	a := netip.MustParseAddr(s.cfg.StationIP).As4()
	a[3] = 1
	return s.cfg.StationIP, netip.AddrFrom4(a).String(), "255.255.255.0"
}

// cmdCIFSR lists the addresses of the active interfaces.
func cmdCIFSR(s *session, c *command) {
	if c.kind != kindExec {
		s.fail("", errParamCount)
		return
	}
	var b strings.Builder
	if s.set.mode == 2 || s.set.mode == 3 {
		fmt.Fprintf(&b, "+CIFSR:APIP,\"%s\"\r\n+CIFSR:APMAC,\"%s\"\r\n", softAP, apMAC)
	}
	if s.set.mode == 1 || s.set.mode == 3 {
		ip, _, _ := s.stationIP()
		fmt.Fprintf(&b, "+CIFSR:STAIP,\"%s\"\r\n+CIFSR:STAMAC,\"%s\"\r\n", ip, staMAC)
	}
	b.WriteString("\r\nOK\r\n")
	s.emit(b.String())
}

// cmdCIPSTA answers the station address query (setting it is not emulated).
func cmdCIPSTA(s *session, c *command) {
	if c.kind != kindQuery {
		s.fail("", errParamCount)
		return
	}
	ip, gw, mask := s.stationIP()
	s.emit(fmt.Sprintf("%[1]s:ip:\"%[2]s\"\r\n%[1]s:gateway:\"%[3]s\"\r\n%[1]s:netmask:\"%[4]s\"\r\n\r\nOK\r\n", c.name, ip, gw, mask))
}
