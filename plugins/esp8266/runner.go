package esp8266

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// request is one AT command for the runner goroutine.
type request struct {
	ctx context.Context
	// line is the command without its CRLF; prepare, when set, makes it
	// instead, run by the runner right before the command is written (so it
	// sees the state every earlier command left), and may refuse.
	line    string
	prepare func() (string, error)
	// payload is written after the CIPSEND prompt. The runner owns it.
	payload []byte
	// recvData marks an AT+CIPRECVDATA, whose reply carries data;
	// recvSock is the socket it reads for.
	recvData bool
	recvSock *socket
	timeout  time.Duration
	// secret marks a line that holds the WiFi password: it is logged
	// redacted.
	secret bool
	// then runs in the runner when the command ended, before the caller
	// sees the reply; it updates the driver's state whether or not the
	// caller still waits, and may set rep.err.
	then func(rep *reply)
	// cleanup runs in the runner instead of handing the reply over when
	// the caller gave up waiting (its ctx ended).
	cleanup func(rep *reply)
	done    chan reply

	// guarded by session.mu
	abandoned, delivered bool
}

// reply is how a command ended.
type reply struct {
	final     kind     // tokOK, tokError, tokFail, tokSendOK or tokSendFail (when err is nil)
	lines     []string // the response's other lines, in order
	data      []byte   // AT+CIPRECVDATA payload
	addr      netip.AddrPort
	prompted  bool // CIPSEND: the prompt came, the payload was written
	committed bool // CIPSEND: "Recv N bytes" came: the module has the bytes
	retry     bool // set by a then hook: try the operation again
	err       error
}

func (r reply) ok() bool { return r.err == nil && r.final == tokOK }

// hasLine returns the first line of the reply starting with prefix.
func (r reply) hasLine(prefix string) (string, bool) {
	for _, l := range r.lines {
		if strings.HasPrefix(l, prefix) {
			return l, true
		}
	}
	return "", false
}

// inflight is the command on the wire. The reader fills it in (under
// session.mu) and kicks the runner, which acts on what it finds: level
// triggered, so no signal is lost.
type inflight struct {
	req  *request
	line string
	send bool
	kick chan struct{}

	// guarded by session.mu
	echoPos     int  // how much of line the module echoed so far
	heard       bool // some response to this line came (so a busy is not about it)
	busy        bool
	prompted    bool
	payloadSent bool
	committed   bool
	ended       bool
	final       kind
	reset       bool // the module restarted: the command is lost
	lines       []string
	data        []byte
	addr        netip.AddrPort
}

func (c *inflight) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

const maxReplyLines = 64

// stripEcho takes the module's echo of the command out of a text line. With
// ATE0 there is none, but after a reset (or before ATE0) 1.x echoes every
// byte as it arrives, and an unsolicited line can land inside the echo
// ("AT+CIPSEND=0," "1,CONNECT\r\n" "98\r\r\n"). It returns what is left of
// the line to handle, and whether the line held echo.
func (c *inflight) stripEcho(l string) (string, bool) {
	if c.echoPos >= len(c.line) {
		return l, false
	}
	rest := c.line[c.echoPos:]
	if c.echoPos == 0 && !strings.HasPrefix(l, "AT") {
		return l, false
	}
	if strings.HasPrefix(rest, l) {
		c.echoPos += len(l)
		return "", true
	}
	p := 0
	for p < len(rest) && p < len(l) && rest[p] == l[p] {
		p++
	}
	min := 1
	if c.echoPos == 0 {
		min = 2
	}
	for ; p >= min; p-- {
		if k := classify(l[p:]).kind; isUnsolicited(k) {
			c.echoPos += p
			return l[p:], true
		}
	}
	return l, false
}

var (
	errModuleReset = sdk.Errorf(sdk.ErrDevice, "the module restarted (it printed ready): its sockets are gone")
	errClosing     = sdk.Errorf(sdk.ErrNotOpen, "the driver is closing")
)

// do queues r for the runner and waits for its reply, or until ctx ends. A
// command already on the wire is not interrupted when ctx ends (the module
// would be left half way through it): the runner finishes it, runs r.then,
// and r.cleanup instead of handing the reply over.
func (s *session) do(ctx context.Context, r *request) (reply, error) {
	r.ctx = ctx
	r.done = make(chan reply, 1)
	if r.timeout == 0 {
		r.timeout = s.cfg.timeout
	}
	var rep reply
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		rep.err = ctxError(ctx, "waiting for the module")
	case <-s.ctx.Done():
		rep.err = errClosing
	}
	if rep.err != nil {
		// Never queued: its then hook still settles what the caller
		// reserved.
		if r.then != nil {
			r.then(&rep)
		}
		return rep, rep.err
	}
	select {
	case rep := <-r.done:
		return rep, rep.err
	case <-ctx.Done():
	case <-s.ctx.Done():
	}
	s.mu.Lock()
	if r.delivered {
		s.mu.Unlock()
		rep := <-r.done
		return rep, rep.err
	}
	r.abandoned = true
	s.mu.Unlock()
	if ctx.Err() != nil {
		return reply{}, ctxError(ctx, "waiting for the module")
	}
	return reply{}, errClosing
}

// ctxError maps the end of ctx onto the vocabulary.
func ctxError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return sdk.Errorf(sdk.ErrCanceled, "%s: %w", what, ctx.Err())
	}
	return sdk.Errorf(sdk.ErrTimeout, "%s: %w", what, ctx.Err())
}

// run is the runner goroutine: the only writer of the port. It runs one
// command at a time, and the bring-up whenever the module (re)started.
func (s *session) run() {
	defer s.wg.Done()
	defer close(s.runnerDone)
	first := true
	for {
		s.mu.Lock()
		bring, resync := s.needBringup, s.needResync
		s.mu.Unlock()
		if bring {
			err := s.bringup()
			s.mu.Lock()
			s.downErr = err
			if err == nil {
				s.needBringup, s.needResync = false, false
			}
			s.mu.Unlock()
			if first {
				first = false
				s.ready <- err
				if err != nil {
					return
				}
			} else if err != nil {
				s.log.Error("module bring-up failed; it is tried again at the next call", "error", err)
			}
		} else if resync {
			s.resync()
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.resetKick:
			continue
		case r := <-s.reqs:
			s.serve(r)
		}
	}
}

// serve runs one request and hands its reply over.
func (s *session) serve(r *request) {
	var rep reply
	s.mu.Lock()
	abandoned, down, needBringup := r.abandoned, s.downErr, s.needBringup
	failed := s.failErr
	s.mu.Unlock()
	switch {
	case abandoned || r.ctx.Err() != nil:
		rep.err = ctxError(r.ctx, "waiting for the module")
	case failed != nil:
		rep.err = failed
	case needBringup:
		if err := s.bringup(); err != nil {
			s.mu.Lock()
			s.downErr = err
			s.mu.Unlock()
			rep.err = err
		} else {
			s.mu.Lock()
			s.downErr, s.needBringup, s.needResync = nil, false, false
			s.mu.Unlock()
		}
	case down != nil:
		rep.err = down
	}
	if rep.err == nil && r.prepare != nil {
		line, err := r.prepare()
		if err != nil {
			rep.err = err
		}
		r.line = line
	}
	if rep.err == nil {
		rep = s.exec(r)
	}
	if r.then != nil {
		r.then(&rep)
	}
	s.finish(r, rep)
}

// finish hands rep to the caller of do, or runs r.cleanup when the caller
// gave up.
func (s *session) finish(r *request, rep reply) {
	s.mu.Lock()
	if r.abandoned {
		s.mu.Unlock()
		if r.cleanup != nil {
			r.cleanup(&rep)
		}
		return
	}
	r.delivered = true
	s.mu.Unlock()
	r.done <- rep
}

// exec runs one command on the wire, resending it (with a growing pause)
// while the module answers busy, within r.timeout. Only the runner calls it.
func (s *session) exec(r *request) reply {
	deadline := time.Now().Add(r.timeout)
	pause := 10 * time.Millisecond
	for {
		rep, busy := s.await(r, deadline)
		if !busy {
			return rep
		}
		if time.Now().Add(pause).After(deadline) {
			s.log.Debug("module stayed busy", "command", s.redact(r))
			return reply{err: sdk.Errorf(sdk.ErrBusy, "the module stayed busy for %v and dropped %s", r.timeout, s.redact(r))}
		}
		s.log.Debug("module busy, sending again", "command", s.redact(r), "pause", pause)
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return reply{err: errClosing}
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
}

func (s *session) redact(r *request) string {
	if r.secret {
		if i := strings.IndexByte(r.line, '='); i >= 0 {
			return r.line[:i+1] + "<redacted>"
		}
		return "<redacted>"
	}
	return r.line
}

// await writes the command once and waits for its end. busy reports that
// the module dropped the line ("busy p..."/"busy s...") so it may be sent
// again.
func (s *session) await(r *request, deadline time.Time) (rep reply, busy bool) {
	c := &inflight{req: r, line: r.line, send: r.payload != nil, kick: make(chan struct{}, 1)}
	s.mu.Lock()
	if s.failErr != nil {
		s.mu.Unlock()
		return reply{err: s.failErr}, false
	}
	s.cur = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.cur == c {
			s.cur = nil
		}
		s.mu.Unlock()
	}()
	if err := s.write([]byte(r.line + "\r\n")); err != nil {
		return reply{err: err}, false
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case <-c.kick:
		case <-timer.C:
			s.mu.Lock()
			s.needResync = true
			committed, prompted := c.committed, c.prompted
			s.mu.Unlock()
			s.log.Warn("module did not answer in time", "command", s.redact(r), "timeout", r.timeout)
			return reply{prompted: prompted, committed: committed,
				err: sdk.Errorf(sdk.ErrTimeout, "the module did not answer %s within %v", s.redact(r), r.timeout)}, false
		case <-s.ctx.Done():
			return reply{err: errClosing}, false
		}
		s.mu.Lock()
		switch {
		case s.failErr != nil:
			err := s.failErr
			s.mu.Unlock()
			return reply{err: err}, false
		case c.reset:
			s.mu.Unlock()
			return reply{err: errModuleReset, prompted: c.prompted, committed: c.committed}, false
		case c.ended:
			rep := reply{final: c.final, lines: c.lines, data: c.data, addr: c.addr, prompted: c.prompted, committed: c.committed}
			s.mu.Unlock()
			return rep, false
		case c.busy && !c.prompted:
			s.mu.Unlock()
			return reply{}, true
		case c.send && c.prompted && !c.payloadSent:
			c.payloadSent = true
			s.mu.Unlock()
			if err := s.write(r.payload); err != nil {
				return reply{err: err, prompted: true}, false
			}
			// SEND OK comes once the module's stack took the data: allow
			// a whole timeout for it from here.
			timer.Reset(r.timeout)
			continue
		}
		s.mu.Unlock()
	}
}

// write writes all of p to the port; a failure of the port fails the driver.
func (s *session) write(p []byte) error {
	if err := writeFull(s.port, p); err != nil {
		return s.fail(err)
	}
	return nil
}

// toCommand gives a response token to the command in flight (called by the
// reader with session.mu held).
func (s *session) toCommand(tok token) {
	c := s.cur
	if c == nil {
		switch tok.kind {
		case tokSendOK, tokSendFail:
			s.log.Debug("late send verdict ignored", "token", tok.kind)
		case tokRecvData:
			s.log.Warn("module sent +CIPRECVDATA with no read in flight; bytes dropped", "bytes", len(tok.data))
		case tokLine, tokErrCode:
			s.log.Debug("module said", "line", tok.text)
		default:
			s.log.Debug("unexpected token with no command in flight", "token", tok.kind)
		}
		return
	}
	switch tok.kind {
	case tokOK:
		if !c.send {
			c.ended, c.final = true, tokOK
		}
		c.heard = true
	case tokError, tokFail:
		c.ended, c.final, c.heard = true, tok.kind, true
	case tokSendOK, tokSendFail:
		switch {
		case c.send && c.payloadSent && !c.ended:
			c.ended, c.final = true, tok.kind
		case c.send && c.ended:
			// 1.x can print a second verdict for one send ("SEND OK"
			// then "SEND FAIL"): the first decides. A link that really
			// broke says "<id>,CLOSED".
			s.log.Debug("second send verdict ignored; the first decides", "first", c.final, "second", tok.kind)
		default:
			s.log.Debug("send verdict of an earlier send ignored", "token", tok.kind)
		}
	case tokPrompt:
		if c.send {
			c.prompted, c.heard = true, true
		}
	case tokBusyP, tokBusyS:
		if !c.heard && !c.prompted {
			c.busy = true
		}
	case tokRecvBytes:
		if c.send && c.payloadSent {
			c.committed = true
		}
	case tokRecvData:
		if c.req.recvData {
			if sk := c.req.recvSock; sk != nil && sk.avail > 0 {
				// What the module holds, in stream order: a notice
				// before this reply counted these bytes, one after it
				// does not.
				sk.avail = max(0, sk.avail-len(tok.data))
			}
			c.data = append(c.data, tok.data...)
			if tok.addr.IsValid() {
				c.addr = tok.addr
			}
			c.heard = true
		} else {
			s.log.Warn("module sent +CIPRECVDATA during another command; bytes dropped", "command", c.line, "bytes", len(tok.data))
		}
	default:
		if len(c.lines) < maxReplyLines {
			c.lines = append(c.lines, tok.text)
		}
		c.heard = true
	}
	c.wake()
}

// resync brings the command stream back in step after a command timed out:
// a late answer to it must not be taken for the answer to the next one. It
// asks AT+CIPMUX? until an answer carries its own +CIPMUX line; stale OKs
// and ERRORs are used up on the way.
func (s *session) resync() {
	for i := 0; i < 5; i++ {
		rep := s.exec(&request{line: "AT+CIPMUX?", timeout: min(s.cfg.timeout, 2*time.Second)})
		if errors.Is(rep.err, errClosing) || errors.Is(rep.err, errModuleReset) {
			return
		}
		if _, ok := rep.hasLine("+CIPMUX:"); ok && rep.ok() {
			s.mu.Lock()
			s.needResync = false
			if s.passive {
				// A notice may have been lost with the late answer:
				// ask the module what it holds rather than trust them.
				s.spawn(func() { s.recvLen(s.ctx) })
			}
			s.mu.Unlock()
			s.log.Debug("back in step with the module")
			return
		}
	}
	s.log.Error("the module stopped answering; dropping its sockets and starting it again")
	s.mu.Lock()
	s.dropAll(sdk.Errorf(sdk.ErrDevice, "the module stopped answering"))
	s.needBringup = true
	s.mu.Unlock()
}
