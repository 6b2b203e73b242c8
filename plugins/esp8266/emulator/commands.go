package emulator

import "fmt"

// handler runs one command on the firmware goroutine. It must answer (OK,
// ERROR, ...) itself, now or, for asynchronous commands, later.
type handler func(s *session, c *command)

// commandTable lists the commands of one dialect. 1.x has the _CUR/_DEF
// variants; 2.x has AT+CIPSTATE, AT+SYSLOG and AT+SYSSTORE.
func commandTable(v1 bool) map[string]handler {
	t := map[string]handler{
		"":                  cmdAT,
		"E0":                cmdEcho,
		"E1":                cmdEcho,
		"+RST":              cmdRST,
		"+RESTORE":          cmdRESTORE,
		"+GMR":              cmdGMR,
		"+UART_CUR":         cmdUART,
		"+UART_DEF":         cmdUART,
		"+CWMODE":           cmdCWMODE,
		"+CWJAP":            cmdCWJAP,
		"+CWQAP":            cmdCWQAP,
		"+CWAUTOCONN":       cmdCWAUTOCONN,
		"+CIFSR":            cmdCIFSR,
		"+CIPSTA":           cmdCIPSTA,
		"+CIPMUX":           cmdCIPMUX,
		"+CIPMODE":          cmdCIPMODE,
		"+CIPDINFO":         cmdCIPDINFO,
		"+CIPSTART":         cmdCIPSTART,
		"+CIPSEND":          cmdCIPSEND,
		"+CIPCLOSE":         cmdCIPCLOSE,
		"+CIPSTATUS":        cmdCIPSTATUS,
		"+CIPDOMAIN":        cmdCIPDOMAIN,
		"+CIPSERVER":        cmdCIPSERVER,
		"+CIPSERVERMAXCONN": cmdCIPSERVERMAXCONN,
		"+CIPSTO":           cmdCIPSTO,
		"+CIPRECVMODE":      cmdCIPRECVMODE,
		"+CIPRECVDATA":      cmdCIPRECVDATA,
		"+CIPRECVLEN":       cmdCIPRECVLEN,
	}
	if v1 {
		for _, name := range []string{"+CWMODE", "+CWJAP", "+CIPSTA"} {
			t[name+"_CUR"] = t[name]
			t[name+"_DEF"] = t[name]
		}
		t["+UART"] = cmdUART
		t["+SYSMSG_CUR"] = cmdSYSMSG
		t["+SYSMSG_DEF"] = cmdSYSMSG
	} else {
		t["+SYSMSG"] = cmdSYSMSG
		t["+CIPSTATE"] = cmdCIPSTATE
		t["+SYSLOG"] = cmdSYSLOG
		t["+SYSSTORE"] = cmdSYSSTORE
	}
	return t
}

func cmdAT(s *session, c *command) { s.ok() }

func cmdEcho(s *session, c *command) {
	s.set.echo = c.name == "E1"
	s.ok()
}

// cmdRST answers OK, then the chip reboots (boot log, junk, ready).
func cmdRST(s *session, c *command) {
	if c.kind != kindExec {
		s.fail("", errParamCount)
		return
	}
	s.ok()
	s.reboot(bootSoftware)
}

// cmdRESTORE forgets the stored access point and reboots.
func cmdRESTORE(s *session, c *command) {
	if c.kind != kindExec {
		s.fail("", errParamCount)
		return
	}
	s.storedSSID = ""
	s.defBaud = s.cfg.Baud
	s.ok()
	s.reboot(bootSoftware)
}

const (
	gmr17 = "AT version:1.7.0.0(Aug 16 2018 00:57:04)\r\n" +
		"SDK version:3.0.0(d49923c)\r\n" +
		"compile time:Aug 23 2018 16:58:12\r\n" +
		"Bin version(Wroom 02):v1.7.0\r\n" +
		"OK\r\n"
	gmr22 = "AT version:2.2.0.0(b097cdf - ESP8266 - Jun 17 2021 12:57:45)\r\n" +
		"SDK version:v3.4-22-g967752e2\r\n" +
		"compile time(6800286):Aug  4 2021 17:20:05\r\n" +
		"Bin version:2.2.0(WROOM-02)\r\n" +
		"\r\nOK\r\n"
)

// cmdGMR prints the version block: 1.x has no blank line before OK (the
// custom info lacks its CRLF), 2.x has one.
func cmdGMR(s *session, c *command) {
	if c.kind != kindExec {
		s.fail("", errParamCount)
		return
	}
	if s.v1 {
		s.emit(gmr17)
	} else {
		s.emit(gmr22)
	}
}

// cmdUART accepts AT+UART_CUR/_DEF (and 1.x AT+UART). OK goes out at the old
// rate; the output throttle switches once it has been written.
func cmdUART(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		baud := s.set.baud
		if c.name != "+UART_CUR" {
			baud = s.defBaud
		}
		if s.v1 {
			s.emit(fmt.Sprintf("%s:%d,8,1,0,0\r\nOK\r\n", c.name, baud))
		} else {
			s.emit(fmt.Sprintf("%s:%d,8,1,0,0\r\n\r\nOK\r\n", c.name, baud))
		}
	case kindSet:
		baud, ok1 := c.num(0, 80, 5000000)
		_, ok2 := c.num(1, 5, 8)
		_, ok3 := c.num(2, 1, 3)
		_, ok4 := c.num(3, 0, 2)
		_, ok5 := c.num(4, 0, 3)
		if len(c.args) != 5 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			s.fail("", errParamParse)
			return
		}
		s.ok()
		s.set.baud = baud
		s.out.pushBaud(baud)
		if c.name != "+UART_CUR" {
			s.defBaud = baud
		}
	default:
		s.fail("", errParamCount)
	}
}

// cmdCIPMODE accepts only normal mode: the emulator has no passthrough.
func cmdCIPMODE(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		s.emit("+CIPMODE:0\r\n\r\nOK\r\n")
	case kindSet:
		m, ok := c.num(0, 0, 1)
		if !ok || len(c.args) != 1 {
			s.fail("", errParamParse)
			return
		}
		if m == 1 {
			s.log.Warn("AT+CIPMODE=1 (passthrough) is not emulated")
			s.fail("", errParamParse)
			return
		}
		s.ok()
	default:
		s.fail("", errParamCount)
	}
}

// flagCommand implements a 0/1 setting with query.
func flagCommand(s *session, c *command, v *bool) {
	switch c.kind {
	case kindQuery:
		n := 0
		if *v {
			n = 1
		}
		s.emit(fmt.Sprintf("%s:%d\r\n\r\nOK\r\n", c.name, n))
	case kindSet:
		n, ok := c.num(0, 0, 1)
		if !ok || len(c.args) != 1 {
			s.fail("", errParamParse)
			return
		}
		*v = n == 1
		s.ok()
	default:
		s.fail("", errParamCount)
	}
}

func cmdCWAUTOCONN(s *session, c *command) { flagCommand(s, c, &s.autoConn) }
func cmdSYSLOG(s *session, c *command)     { flagCommand(s, c, &s.set.errCodes) }
func cmdSYSSTORE(s *session, c *command)   { flagCommand(s, c, &s.sysStore) }

func cmdCIPDINFO(s *session, c *command) {
	if c.kind == kindQuery {
		v := "FALSE"
		if s.set.dinfo {
			v = "TRUE"
		}
		if !s.v1 {
			v = map[bool]string{true: "true", false: "false"}[s.set.dinfo]
		}
		s.emit("+CIPDINFO:" + v + "\r\n\r\nOK\r\n")
		return
	}
	flagCommand(s, c, &s.set.dinfo)
}

func cmdCIPRECVMODE(s *session, c *command) { flagCommand(s, c, &s.set.passive) }

// cmdSYSMSG sets the system message bits (2.x AT+SYSMSG 0-7, 1.7
// AT+SYSMSG_CUR 0-3); bit 1 announces connections as +LINK_CONN.
func cmdSYSMSG(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		s.emit(fmt.Sprintf("%s:%d\r\n\r\nOK\r\n", c.name, s.set.sysmsg))
	case kindSet:
		hi := 7
		if s.v1 {
			hi = 3
		}
		n, ok := c.num(0, 0, hi)
		if !ok || len(c.args) != 1 {
			s.fail("", errParamParse)
			return
		}
		s.set.sysmsg = n
		s.ok()
	default:
		s.fail("", errParamCount)
	}
}

// cmdCIPMUX switches single/multiple connection mode; it refuses while links
// are open, and refuses 0 while the server runs.
func cmdCIPMUX(s *session, c *command) {
	switch c.kind {
	case kindQuery:
		n := 0
		if s.set.mux {
			n = 1
		}
		s.emit(fmt.Sprintf("+CIPMUX:%d\r\n\r\nOK\r\n", n))
	case kindSet:
		n, ok := c.num(0, 0, 1)
		if !ok || len(c.args) != 1 {
			s.fail("", errParamParse)
			return
		}
		want := n == 1
		switch {
		case want == s.set.mux:
		case !want && s.srv != nil:
			s.fail("CIPSERVER must be 0", 0)
			return
		case s.anyLink():
			s.fail("link is builded", 0)
			return
		}
		s.set.mux = want
		s.ok()
	default:
		s.fail("", errParamCount)
	}
}
