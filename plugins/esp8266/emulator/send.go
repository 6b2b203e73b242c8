package emulator

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// sendOp is the CIPSEND in progress: prompt printed, payload being read.
type sendOp struct {
	l    *link
	n    int
	data []byte
}

// cmdCIPSEND: AT+CIPSEND=[<id>,]<len>. Prompt ("> " on 1.x, "\r\n>" after
// OK on 2.x), exactly len raw unechoed bytes, "Recv len bytes", then the
// bytes are written to the real socket and SEND OK or SEND FAIL follows.
func cmdCIPSEND(s *session, c *command) {
	if c.kind != kindSet {
		s.fail("", errParamCount)
		return
	}
	id, i := 0, 0
	if s.set.mux {
		if len(c.args) != 2 {
			s.fail("", errParamCount)
			return
		}
		n, ok := c.num(0, 0, maxLinks-1)
		if !ok {
			s.fail("link is not valid", errParamParse)
			return
		}
		id, i = n, 1
	} else if len(c.args) != 1 {
		s.fail("", errParamCount)
		return
	}
	if c.args[i].quoted {
		s.fail("", errParamParse)
		return
	}
	n, err := strconv.Atoi(c.args[i].s)
	if err != nil {
		s.fail("", errParamParse)
		return
	}
	l := s.links[id]
	if !l.open() || l.peerGone {
		s.fail("link is not valid", 0)
		return
	}
	if n > maxSend {
		s.fail("too long", errParamParse)
		return
	}
	if n < 1 {
		s.fail("", errParamParse)
		return
	}
	if s.faults.fire(FaultClosedBeforePrompt) {
		s.emit(s.closedMsg(id))
		s.dropLink(l)
		s.fail("link is not valid", 0)
		return
	}
	if s.faults.fire(FaultErrorBeforeClosed) {
		s.fail("link is not valid", 0)
		s.emit(s.closedMsg(id))
		s.dropLink(l)
		return
	}
	if s.v1 {
		s.emit("\r\nOK\r\n> ")
	} else {
		s.emit("\r\nOK\r\n\r\n>")
	}
	if l.server && !s.clientReset && s.faults.enabled(FaultClientReset) {
		// The client resets the connection as the host starts writing.
		s.clientReset = true
		s.faults.always(FaultClientReset)
		if tc, ok := l.conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		s.emit(s.closedMsg(id))
		s.dropLink(l)
	}
	s.rx = rxData
	s.send = &sendOp{l: l, n: n, data: make([]byte, 0, n)}
	s.releaseAtPoint()
}

// payloadDone runs when the last payload byte arrived.
func (s *session) payloadDone() {
	op := s.send
	s.emit(fmt.Sprintf("\r\nRecv %d bytes\r\n", op.n))
	s.rx = rxSending
	gen := s.gen
	s.releaseAtPoint()
	if s.gen != gen {
		return
	}
	if s.links[op.l.id] != op.l {
		// The link went while the payload came in.
		s.after(s.cfg.Latency, func() { s.sendDone(op, false) })
		return
	}
	if s.faults.fire(FaultReset) {
		s.reboot(bootWatchdog)
		return
	}
	if s.faults.fire(FaultSendFail) {
		s.after(s.cfg.Latency, func() { s.sendDone(op, false) })
		return
	}
	latency := s.cfg.Latency
	conn := op.l.conn
	s.async(func(ctx context.Context) (func(), func()) {
		sleepCtx(ctx, latency)
		err := ctx.Err()
		if err == nil {
			_ = conn.SetWriteDeadline(time.Now().Add(sendTime))
			_, err = conn.Write(op.data)
		}
		if err != nil {
			s.log.Debug("cipsend: socket write failed", "id", op.l.id, "error", err)
		}
		return func() { s.sendDone(op, err == nil) }, nil
	})
}

func (s *session) sendDone(op *sendOp, ok bool) {
	s.send = nil
	s.rx = rxIdle
	if ok {
		op.l.lastActive = time.Now()
		if s.v1 && s.faults.always(FaultLateSendFail) {
			// 1.x: a second, late verdict for the same send.
			s.emit("\r\nSEND OK\r\nSEND FAIL\r\n")
			return
		}
		s.emit("\r\nSEND OK\r\n")
		return
	}
	s.emit("\r\nSEND FAIL\r\n")
}
