package esp8266

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"ifsock/sdk"
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
	used        int // sockets held (listener included) plus connects under way
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

// maxSockets is what Info.MaxSockets reports: the module's five links. The
// listener (AT+CIPSERVER uses no link) counts against it too, so with a
// listener open at most four connected sockets are held, and a fifth
// incoming connection is closed at once (and logged).
const maxSockets = numLinks

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
	if lst == nil || lst.gone || s.used >= maxSockets || s.closing {
		why := "no listener"
		if lst != nil && s.used >= maxSockets {
			why = fmt.Sprintf("all %d sockets in use (the listener counts as one)", maxSockets)
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
	s.log.Debug("accepted", "socket", sk.id, "link", id, "listener", lst.id)
	s.start(sk)
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
		if s.passive && !sk.noRead && (sk.more || sk.reading) {
			// The module may still hold data of this link: read it all,
			// then report the close (see the fetch pump).
			sk.peerClosed = true
			s.kickPump()
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
	sk.more = true
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
		line: fmt.Sprintf("AT+CIPCLOSE=%d", id),
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

// lookupPeer learns an accepted socket's peer from AT+CIPSTATUS.
func (s *session) lookupPeer(sk *socket) {
	defer close(sk.peerReady)
	ctx, cancel := context.WithTimeout(s.ctx, 2*s.cfg.timeout)
	defer cancel()
	if p, err := s.status(ctx, sk.link); err == nil {
		sk.peer = p
	} else {
		s.log.Warn("could not learn the peer of an accepted socket", "socket", sk.id, "error", err)
	}
}

// status asks AT+CIPSTATUS for the remote address of link id.
func (s *session) status(ctx context.Context, id int) (netip.AddrPort, error) {
	rep, err := s.do(ctx, &request{line: "AT+CIPSTATUS"})
	if err != nil {
		return netip.AddrPort{}, err
	}
	if !rep.ok() {
		return netip.AddrPort{}, sdk.Errorf(sdk.ErrDevice, "AT+CIPSTATUS failed")
	}
	for _, l := range rep.lines {
		if p, ok := parseStatusLine(l, id); ok {
			return p, nil
		}
	}
	return netip.AddrPort{}, sdk.Errorf(sdk.ErrClosed, "link %d is not in the module's AT+CIPSTATUS", id)
}

// parseStatusLine parses `+CIPSTATUS:<id>,"TCP","<ip>",<rport>,<lport>,<tetype>`
// (or +CIPSTATE:) for link id.
func parseStatusLine(l string, id int) (netip.AddrPort, bool) {
	var rest string
	switch {
	case len(l) > len("+CIPSTATUS:") && l[:len("+CIPSTATUS:")] == "+CIPSTATUS:":
		rest = l[len("+CIPSTATUS:"):]
	case len(l) > len("+CIPSTATE:") && l[:len("+CIPSTATE:")] == "+CIPSTATE:":
		rest = l[len("+CIPSTATE:"):]
	default:
		return netip.AddrPort{}, false
	}
	f := splitFields(rest)
	if len(f) < 4 || f[0] != fmt.Sprint(id) {
		return netip.AddrPort{}, false
	}
	p := parseAddrPort(f[2], f[3])
	return p, p.IsValid()
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
