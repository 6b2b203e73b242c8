package esp8266

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

// numLinks is the module's link count: ids 0-4.
const numLinks = 5

// linkState is what the driver knows of one of the module's links.
type linkState int

const (
	linkFree       linkState = iota
	linkConnecting           // our AT+CIPSTART for it is in flight
	linkOpen                 // a socket uses it
	linkClosing              // our AT+CIPCLOSE for it is queued or in flight
	linkFailed               // our CIPSTART got ERROR: a stray "<id>,CLOSED" may follow
)

type link struct {
	state linkState
	sock  *socket
	// connected: "<id>,CONNECT" came while connecting; closedAfter: and
	// then "<id>,CLOSED" before the command's OK.
	connected, closedAfter bool
}

// session is the state of one Open, up to its Close.
type session struct {
	cfg    config
	ev     sdk.Events
	log    hclog.Logger
	port   io.ReadWriteCloser // the port, behind the trace when trace=true
	tz     *tokenizer
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine of the session
	ids    *atomic.Uint64

	reqs      chan *request // to the runner
	resetKick chan struct{} // cap 1: wakes an idle runner for a bring-up
	pumpWake  chan struct{} // cap 1: wakes the passive-mode fetch pump
	ready     chan error    // the first bring-up's result
	// runnerDone is closed when the runner returned.
	runnerDone chan struct{}

	mu          sync.Mutex
	closing     bool // Close started: sockets are closed, no events
	closed      bool // the port is being closed: the reader stops
	failErr     error
	downErr     error // the last bring-up failed
	needBringup bool
	needResync  bool
	syncing     bool // bring-up is sending AT: a "ready" is expected
	cur         *inflight
	links       [numLinks]link
	sockets     map[sdk.Socket]*socket
	listener    *socket
	used        int // links held: connected sockets plus connects under way (the listener takes none)
	dialect     int // 1 (NonOS AT 1.x) or 2 (ESP-AT 2.x)
	passive     bool
	device      string
	resets      int
	fetchNext   int        // round-robin start of the fetch pump
	stationIP   netip.Addr // the module's own address (AT+CIFSR)
	// incoming counts the incoming connections the module announced;
	// incomingCh is closed and replaced at each.
	incoming   uint64
	incomingCh chan struct{}
}

// maxConns is what Info.MaxConnections reports: the module's five links,
// for connects and accepted connections alike (AT+CIPSERVERMAXCONN's
// default). The listener takes no link (AT+CIPSERVER uses none), so
// Info.MaxSockets is one more.
const maxConns = numLinks

func newSession(cfg config, ev sdk.Events, log hclog.Logger, port io.ReadWriteCloser, ids *atomic.Uint64) *session {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.trace {
		port = newTrace(port, log.Named("trace"), quoteAT(cfg.password), cfg.password)
	}
	s := &session{
		cfg: cfg, ev: ev, log: log, port: port,
		tz:  newTokenizer(port),
		ctx: ctx, cancel: cancel, ids: ids,
		reqs:        make(chan *request),
		resetKick:   make(chan struct{}, 1),
		pumpWake:    make(chan struct{}, 1),
		ready:       make(chan error, 1),
		runnerDone:  make(chan struct{}),
		sockets:     make(map[sdk.Socket]*socket),
		needBringup: true,
		incomingCh:  make(chan struct{}),
	}
	s.wg.Add(3)
	go s.read()
	go s.run()
	go s.pump()
	return s
}

// read is the reader goroutine: the only reader of the port.
func (s *session) read() {
	defer s.wg.Done()
	for {
		tok, err := s.tz.next()
		if err != nil {
			s.fail(err)
			return
		}
		s.dispatch(tok)
	}
}

// fail records that the port failed: every socket is dropped with
// ErrDevice and every call fails from now on. It returns the error to use.
func (s *session) fail(cause error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosing
	}
	if s.failErr != nil {
		return s.failErr
	}
	s.failErr = sdk.Errorf(sdk.ErrDevice, "serial port failed (%v): close the interface, check the module and its cable, and open it again", cause)
	s.log.Error("serial port failed", "error", cause)
	s.dropAll(s.failErr)
	if s.cur != nil {
		s.cur.wake()
	}
	return s.failErr
}

// dispatch handles one token from the module.
func (s *session) dispatch(tok token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if c := s.cur; c != nil && tok.kind == tokLine {
		if rest, echo := c.stripEcho(tok.text); echo {
			if rest == "" {
				return
			}
			tok = classify(rest)
		}
	}
	switch tok.kind {
	case tokIPD:
		s.onData(tok)
	case tokIPDNotice:
		s.onNotice(tok)
	case tokConnect, tokLinkConn:
		if tok.id < 0 {
			s.log.Warn("module reports a connection in single-connection mode; ignored", "line", tok.text)
			return
		}
		s.onConnect(tok.id, tok.addr)
	case tokClosed, tokConnectFail:
		if tok.id < 0 {
			s.log.Warn("module reports a close in single-connection mode; ignored", "line", tok.text)
			return
		}
		s.onClosed(tok.id)
	case tokReady:
		s.onReady(tok.text)
	case tokWifi:
		s.log.Info("module: " + tok.text)
	default:
		s.toCommand(tok)
	}
}

// onReady handles a module (re)start.
func (s *session) onReady(line string) {
	if s.syncing {
		s.log.Debug("module ready", "line", line)
		return
	}
	s.resets++
	s.log.Warn("module restarted: dropping its sockets and bringing it up again", "line", line)
	s.tz.recvDataInfo.Store(false)
	s.dropAll(sdk.Errorf(sdk.ErrDevice, "module reset: it restarted and lost its connections"))
	s.needBringup = true
	if s.cur != nil {
		s.cur.reset = true
		s.cur.wake()
	}
	select {
	case s.resetKick <- struct{}{}:
	default:
	}
}

// dropAll drops every socket, the listener included, with reason, and
// forgets every link. Called with s.mu held.
func (s *session) dropAll(reason error) {
	for i := range s.links {
		if sk := s.links[i].sock; sk != nil && s.links[i].state == linkConnecting {
			// Its Connect is still waiting: the command fails with the
			// reset and the socket is never handed out.
			sk.gone = true
		}
		s.links[i] = link{}
	}
	for _, sk := range s.sockets {
		s.dropLocked(sk, reason)
	}
}

// linkSocket returns the socket using link id, if any.
func (s *session) linkSocket(id int) *socket {
	l := &s.links[id]
	if l.state == linkOpen || l.state == linkConnecting {
		return l.sock
	}
	return nil
}

// onConnect handles "<id>,CONNECT" (or +LINK_CONN, with the peer).
func (s *session) onConnect(id int, peer netip.AddrPort) {
	l := &s.links[id]
	switch l.state {
	case linkConnecting:
		l.connected = true
		return
	case linkOpen:
		// The module reuses a link we think is open: its CLOSED was lost.
		s.log.Warn("module reused a link the driver thought open; dropping its old socket", "link", id, "socket", l.sock.id)
		s.dropLocked(l.sock, sdk.Errorf(sdk.ErrReset, "%s: the module reused its link %d for a new connection", l.sock.id, id))
	case linkClosing:
		s.log.Warn("incoming connection on a link being closed", "link", id)
	}
	s.links[id] = link{}
	s.accept(id, peer)
}

// accept takes an incoming connection on link id.
func (s *session) accept(id int, peer netip.AddrPort) {
	s.incoming++
	close(s.incomingCh)
	s.incomingCh = make(chan struct{})
	lst := s.listener
	if lst == nil || lst.gone || s.used >= maxConns || s.closing {
		why := "no listener"
		if lst != nil && s.used >= maxConns {
			why = fmt.Sprintf("all %d connections in use", maxConns)
		}
		s.log.Warn("closing an incoming connection", "link", id, "reason", why)
		s.closeLinkAsync(id)
		return
	}
	sk := s.newSocket(id)
	sk.parent = lst
	s.used++
	s.sockets[sk.id] = sk
	s.links[id] = link{state: linkOpen, sock: sk}
	sk.q = append(sk.q, sockEvent{kind: evAccepted})
	if peer.IsValid() {
		sk.peer = peer
		close(sk.peerReady)
	} else {
		s.spawn(func() { s.lookupPeer(sk) })
	}
	if s.passive {
		s.spawn(func() { s.probeRecvLen(sk) })
	}
	s.log.Debug("accepted", "socket", sk.id, "link", id, "listener", lst.id)
	s.start(sk)
}

// learnPeer sets an accepted socket's peer from what the module said of it
// (+IPD header, +CIPRECVDATA with CIPDINFO, AT+CIPSTATUS), unless it is known
// already. An invalid p settles it as unknown. Called with s.mu held.
func (s *session) learnPeer(sk *socket, p netip.AddrPort) {
	select {
	case <-sk.peerReady:
		return
	default:
	}
	sk.peer = p
	close(sk.peerReady)
}

// probeDelays are when, after an accept, the driver asks AT+CIPRECVLEN? in
// passive mode: 2.x may print no +IPD notice at all for the data a client
// sends right after connecting (esp-at#294: "<id>,CONNECT" then silence,
// and no notice until the host reads), so the driver does not wait for one.
var probeDelays = []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond}

// probeRecvLen asks AT+CIPRECVLEN? after an accept until the socket's first
// data is known (a notice, or the answer itself), or it is gone.
func (s *session) probeRecvLen(sk *socket) {
	start := time.Now()
	for _, d := range probeDelays {
		if wait := time.Until(start.Add(d)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
				return
			}
		}
		s.mu.Lock()
		done := sk.gone || sk.noticed
		s.mu.Unlock()
		if done {
			return
		}
		s.recvLen(s.ctx)
	}
}

// recvLen asks AT+CIPRECVLEN? and marks every open socket with data waiting
// in the module for the fetch pump, notice or not. The answer is taken in
// the runner, before any later read can change what the module holds.
func (s *session) recvLen(ctx context.Context) {
	s.do(ctx, &request{line: "AT+CIPRECVLEN?", timeout: min(s.cfg.timeout, 2*time.Second), then: s.onRecvLen})
}

// onRecvLen takes an AT+CIPRECVLEN? answer (in the runner).
func (s *session) onRecvLen(rep *reply) {
	if !rep.ok() {
		return
	}
	l, ok := rep.hasLine("+CIPRECVLEN:")
	if !ok {
		return
	}
	f := strings.Split(strings.TrimSpace(l[len("+CIPRECVLEN:"):]), ",")
	s.mu.Lock()
	defer s.mu.Unlock()
	kick := false
	for id := 0; id < numLinks && id < len(f); id++ {
		n, err := strconv.Atoi(strings.TrimSpace(f[id]))
		if err != nil || n <= 0 {
			continue
		}
		sk := s.linkSocket(id)
		if sk == nil || sk.gone || sk.listener || s.links[id].state != linkOpen {
			continue
		}
		if !sk.noticed {
			s.log.Debug("data waiting with no +IPD notice", "socket", sk.id, "link", id, "bytes", n)
		}
		sk.noticed = true
		if !sk.reading {
			sk.more = true
			sk.avail = max(sk.avail, n)
			kick = true
		}
	}
	if kick {
		s.kickPump()
	}
}

// onClosed handles "<id>,CLOSED" (and "<id>,CONNECT FAIL").
func (s *session) onClosed(id int) {
	l := &s.links[id]
	switch l.state {
	case linkFree:
		s.log.Debug("close of a link not in use", "link", id)
	case linkConnecting:
		if l.connected {
			l.closedAfter = true
		}
	case linkFailed, linkClosing:
		s.links[id] = link{}
	case linkOpen:
		sk := l.sock
		if s.passive && !sk.noRead {
			// The module may still hold data of this link: read it all,
			// then report the close (see the fetch pump).
			sk.peerClosed = true
			if sk.more || sk.reading || sk.avail > 0 {
				s.kickPump()
			} else {
				s.peerClosedDrained(sk)
			}
			return
		}
		s.log.Debug("closed by the peer", "socket", sk.id, "link", id)
		s.dropLocked(sk, sdk.ErrPeerClosed)
	}
}

// onData handles active-mode data.
func (s *session) onData(tok token) {
	if tok.id < 0 {
		s.log.Warn("data in single-connection mode; dropped", "bytes", len(tok.data))
		return
	}
	sk := s.linkSocket(tok.id)
	if sk == nil || sk.gone || sk.noRead {
		s.log.Debug("data for a link with no socket; dropped", "link", tok.id, "bytes", len(tok.data))
		return
	}
	if tok.addr.IsValid() {
		// CIPDINFO=1: the header names the peer, which AT+CIPSTATUS can
		// no longer tell once the client left.
		s.learnPeer(sk, tok.addr)
	}
	if sk.qBytes+len(tok.data) > s.cfg.buffer {
		s.log.Error("receive buffer overflowed: the host did not consume fast enough and the module has no flow control in active mode; dropping the socket",
			"socket", sk.id, "link", tok.id, "buffered", sk.qBytes, "arrived", len(tok.data), "buffer", s.cfg.buffer)
		s.dropLocked(sk, sdk.Errorf(sdk.ErrOverflow, "%s: %d bytes arrived with %d of %d bytes buffered", sk.id, len(tok.data), sk.qBytes, s.cfg.buffer))
		s.closeLinkAsync(tok.id)
		return
	}
	s.enqueue(sk, sockEvent{kind: evData, data: tok.data})
}

// onNotice handles a passive-mode "+IPD,<id>,<len>": data waits in the
// module.
func (s *session) onNotice(tok token) {
	if tok.id < 0 {
		return
	}
	sk := s.linkSocket(tok.id)
	if sk == nil || sk.gone {
		return
	}
	sk.more, sk.noticed = true, true
	sk.avail = tok.n
	if sk.reading {
		sk.noticeDuringRead = true
	}
	s.kickPump()
}

func (s *session) kickPump() {
	select {
	case s.pumpWake <- struct{}{}:
	default:
	}
}

// spawn starts a goroutine of the session, unless it is closing. Called
// with s.mu held (so Close cannot be waiting with a zero count).
func (s *session) spawn(f func()) {
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// closeLinkAsync marks link id closing and closes it on the module in the
// background. Called with s.mu held.
func (s *session) closeLinkAsync(id int) {
	s.links[id] = link{state: linkClosing}
	s.spawn(func() { s.closeLink(s.ctx, id) })
}

// closeLink sends AT+CIPCLOSE=id. "UNLINK" (1.x) or a bare ERROR (2.x) mean
// the link was closed already: fine.
func (s *session) closeLink(ctx context.Context, id int) error {
	_, err := s.do(ctx, &request{
		prepare: func() (string, error) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.links[id].state != linkClosing {
				// Its CLOSED came meanwhile and a new connection may
				// have the link already: closing it would cut that one.
				return "", errSkip
			}
			return fmt.Sprintf("AT+CIPCLOSE=%d", id), nil
		},
		then: func(rep *reply) {
			s.mu.Lock()
			if s.links[id].state == linkClosing {
				s.links[id] = link{}
			}
			s.mu.Unlock()
		},
	})
	return err
}

// lookupPeer learns an accepted socket's peer from AT+CIPSTATUS, unless
// +IPD told it first. When neither can (the client left before the driver
// asked, and the module gave no address), the peer stays unknown: Accepted
// carries the zero AddrPort and Peer is an error, never an invalid address.
func (s *session) lookupPeer(sk *socket) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*s.cfg.timeout)
	defer cancel()
	p, err := s.status(ctx, sk.link)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		select {
		case <-sk.peerReady:
		default:
			s.log.Debug("could not learn the peer of an accepted socket", "socket", sk.id, "error", err)
		}
	}
	s.learnPeer(sk, p)
}

// status asks AT+CIPSTATUS for the remote address of link id.
func (s *session) status(ctx context.Context, id int) (netip.AddrPort, error) {
	remote, _, err := s.linkStatus(ctx, id, "peer")
	return remote, err
}

// linkStatus asks AT+CIPSTATUS for link id's remote address and local port.
// Both dialects print `+CIPSTATUS:<id>,"TCP","<ip>",<rport>,<lport>,<tetype>`
// per open link (1.x fills the type from "TCP"/"UDP"/"SSL", 2.x prints it
// with %s); the local port is 0 where a line lacks the field.
// what names the caller's question in the error.
func (s *session) linkStatus(ctx context.Context, id int, what string) (netip.AddrPort, int, error) {
	rep, err := s.do(ctx, &request{line: "AT+CIPSTATUS"})
	if err != nil {
		return netip.AddrPort{}, 0, err
	}
	if !rep.ok() {
		return netip.AddrPort{}, 0, sdk.Errorf(sdk.ErrDevice, "AT+CIPSTATUS failed")
	}
	for _, l := range rep.lines {
		if p, lport, ok := parseStatusLine(l, id); ok {
			return p, lport, nil
		}
	}
	if what == "peer" {
		return netip.AddrPort{}, 0, sdk.Errorf(sdk.ErrClosed, "peer of link %d: the module no longer lists the link in AT+CIPSTATUS (the client left before the driver asked) and gave no address", id)
	}
	return netip.AddrPort{}, 0, sdk.Errorf(sdk.ErrClosed, "%s of link %d: the module no longer lists the link in AT+CIPSTATUS (the connection ended before the driver asked)", what, id)
}

// parseStatusLine parses `+CIPSTATUS:<id>,"TCP","<ip>",<rport>,<lport>,<tetype>`
// (or +CIPSTATE:) for link id: the remote address, and the local port (0
// when the line has none).
func parseStatusLine(l string, id int) (netip.AddrPort, int, bool) {
	var rest string
	switch {
	case len(l) > len("+CIPSTATUS:") && l[:len("+CIPSTATUS:")] == "+CIPSTATUS:":
		rest = l[len("+CIPSTATUS:"):]
	case len(l) > len("+CIPSTATE:") && l[:len("+CIPSTATE:")] == "+CIPSTATE:":
		rest = l[len("+CIPSTATE:"):]
	default:
		return netip.AddrPort{}, 0, false
	}
	f := splitFields(rest)
	if len(f) < 4 || f[0] != fmt.Sprint(id) {
		return netip.AddrPort{}, 0, false
	}
	p := parseAddrPort(f[2], f[3])
	lport := 0
	if len(f) >= 5 {
		if n, err := strconv.ParseUint(strings.TrimSpace(f[4]), 10, 16); err == nil {
			lport = int(n)
		}
	}
	return p, lport, p.IsValid()
}

func splitFields(s string) []string {
	var f []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				f = append(f, s[start:i])
				start = i + 1
			}
		}
	}
	return append(f, s[start:])
}

// connectTimeout is how long a CIPSTART or CIPDOMAIN may take: the module
// retries TCP and DNS for several seconds before it gives up.
func (s *session) connectTimeout() time.Duration { return max(s.cfg.timeout, 20*time.Second) }
