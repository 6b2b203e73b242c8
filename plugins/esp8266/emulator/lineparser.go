package emulator

import "strings"

// feed runs received serial bytes through the firmware's receive state
// machine (reference section 4). Commands run as soon as their line ends, so
// the bytes after a line already see the state that command left (busy,
// CIPSEND payload, reset).
func (s *session) feed(p []byte) {
	for len(p) > 0 {
		switch s.rx {
		case rxResetting:
			return // the chip is rebooting: bytes are lost
		case rxData:
			op := s.send
			take := min(op.n-len(op.data), len(p))
			op.data = append(op.data, p[:take]...)
			p = p[take:]
			if len(op.data) == op.n {
				s.payloadDone()
			}
			continue
		}
		b := p[0]
		p = p[1:]
		if s.v1 {
			s.feed1(b)
		} else {
			s.feed2(b)
		}
	}
	s.flushEcho()
}

// feed1 is the NonOS 1.x receiver: it echoes every byte but '\n' as it
// arrives (even while busy), hunts for the "AT" head, discards what comes
// before it, and emits "\r\n" for the terminating '\n' (so "AT\r\n" echoes
// as "AT\r\r\n").
//
// Without the interleave fault the echo of a partly received line is held
// until its '\n', so other messages go out before it rather than inside it.
func (s *session) feed1(b byte) {
	if b == '\n' {
		s.echoHold = false
	} else if s.set.echo {
		s.echoBuf = append(s.echoBuf, b)
		s.echoHold = true
	}
	switch s.rx {
	case rxBusy:
		if b == '\n' {
			s.busy("\r\nbusy p...\r\n")
		}
		return
	case rxSending:
		if b == '\n' {
			s.busy("\r\nbusy s...\r\n")
		}
		return
	}
	if !s.inLine {
		s.head = [2]byte{s.head[1], b}
		switch {
		case s.head == [2]byte{'A', 'T'} || s.head == [2]byte{'a', 't'}:
			s.inLine = true
			s.line = s.line[:0]
			s.head = [2]byte{}
		case b == '\n':
			s.e.count(func(st *Stats) { st.Commands++ })
			s.emit("\r\nERROR\r\n")
		}
		return
	}
	if b == '\n' {
		if s.set.echo {
			s.echoBuf = append(s.echoBuf, '\r', '\n')
		}
		body := strings.TrimSuffix(string(s.line), "\r")
		s.inLine = false
		s.line = s.line[:0]
		if s.faults.fire(FaultBusy) {
			s.e.count(func(st *Stats) { st.Commands++ })
			s.busy("\r\nbusy p...\r\n")
			return
		}
		s.execLine(body)
		return
	}
	if len(s.line) >= maxLine1 {
		// Over-long: the firmware drops the line and hunts for "AT" again.
		s.inLine = false
		s.line = s.line[:0]
		return
	}
	s.line = append(s.line, b)
	if b == ',' {
		// Real 1.x echoes from the UART task, so events of the network task
		// land inside the echo (AT+CIPSEND=0,<1,CONNECT>98).
		s.releaseAtPoint()
	}
}

// feed2 is the ESP-AT 2.x receiver: a line must start with "AT" and end with
// "\r\n"; it is echoed unchanged when accepted, and not at all while busy.
func (s *session) feed2(b byte) {
	switch s.rx {
	case rxBusy, rxSending:
		if b == '\n' {
			s.busy("\r\nbusy p...\r\n")
		}
		return
	}
	if len(s.line) < maxLine2 {
		s.line = append(s.line, b)
	} else {
		s.overlong = true
	}
	if b != '\n' {
		return
	}
	line := string(s.line)
	over := s.overlong
	s.line = s.line[:0]
	s.overlong = false
	if s.faults.fire(FaultBusy) {
		s.e.count(func(st *Stats) { st.Commands++ })
		s.busy("\r\nbusy p...\r\n")
		return
	}
	if s.set.echo {
		s.echoBuf = append(s.echoBuf, line...)
	}
	switch {
	case over:
		s.e.count(func(st *Stats) { st.Commands++ })
		s.fail("", errParamParse)
	case !strings.HasSuffix(line, "\r\n"):
		s.e.count(func(st *Stats) { st.Commands++ })
		s.fail("", errNoTerminator)
	case !strings.HasPrefix(line, "AT"):
		s.e.count(func(st *Stats) { st.Commands++ })
		s.fail("", errNoHead)
	default:
		s.execLine(line[2 : len(line)-2])
	}
}

// execLine parses and runs one command; body is the text after "AT".
func (s *session) execLine(body string) {
	s.e.count(func(st *Stats) { st.Commands++ })
	s.log.Debug("command", "line", "AT"+body)
	c, err := parseCommand(body)
	if err != nil {
		s.fail("", errParamParse)
		return
	}
	h, ok := s.cmds[c.name]
	if !ok {
		s.fail("", errUnknown)
		return
	}
	h(s, &c)
}
