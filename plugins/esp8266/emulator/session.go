package emulator

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Module limits shared by both dialects.
const (
	maxLinks   = 5    // link ids 0..4
	mss        = 1460 // largest +IPD chunk (one TCP segment)
	maxSend    = 2048 // largest CIPSEND payload
	maxLine1   = 256  // 1.x command buffer; longer lines are discarded
	maxLine2   = 256  // 2.x maximum command length
	bufCap17   = 2920 // passive receive buffer per link, 1.7
	bufCap22   = 5760 // passive receive buffer per link, 2.2
	dialTime   = 5 * time.Second
	sendTime   = 10 * time.Second
	idleCheck  = 250 * time.Millisecond
	defaultSTO = 180
)

// rxState is what the firmware does with the next received byte.
type rxState int

const (
	rxIdle      rxState = iota // collecting command lines
	rxBusy                     // an asynchronous command runs: lines get busy p...
	rxData                     // reading a CIPSEND payload
	rxSending                  // payload taken, waiting for SEND OK/FAIL
	rxResetting                // rebooting: input is lost
)

// settings are the volatile settings that a reset returns to defaults.
type settings struct {
	echo     bool
	mux      bool
	dinfo    bool
	passive  bool
	mode     int // CWMODE
	sto      int // CIPSTO seconds
	maxConn  int // CIPSERVERMAXCONN
	baud     int
	errCodes bool
	sysmsg   int // AT+SYSMSG (2.x) / AT+SYSMSG_CUR (1.7); bit 1: +LINK_CONN
}

// call is work delivered to the firmware goroutine by a timer or an
// asynchronous worker. It runs only if the module has not reset since it was
// scheduled (gen); otherwise drop, if set, releases what it holds.
type call struct {
	gen   uint64
	timer uint64
	run   func()
	drop  func()
}

// session is one run of the firmware (one Serve call). Every field is owned
// by the goroutine that runs Serve, except the channels used to hand work in.
type session struct {
	e   *Emulator
	cfg Config
	log hclog.Logger
	v1  bool
	rw  io.ReadWriter

	out    *output
	faults *injector
	cmds   map[string]handler

	done    chan struct{} // closed when Serve is ending
	wg      sync.WaitGroup
	in      chan []byte
	readErr chan error
	events  chan linkEvent
	accepts chan acceptEvent
	calls   chan call

	ctx      context.Context // Serve's context
	gen      uint64          // boot generation: bumps at every reset
	opCtx    context.Context // cancelled at reset and at shutdown
	opCancel context.CancelFunc
	timers   map[uint64]*time.Timer
	timerSeq uint64

	set     settings
	defBaud int // UART_DEF

	joined     bool
	ssid       string
	storedSSID string // autoconnect target; "" = none
	autoConn   bool
	sysStore   bool
	hadLink    bool

	links [maxLinks]*link
	srv   *server

	rx       rxState
	head     [2]byte // 1.x: last two bytes while hunting for "AT"
	inLine   bool    // 1.x: "AT" seen, collecting
	line     []byte
	overlong bool
	echoBuf  []byte
	echoHold bool // 1.x: echo of a partial line is pending
	send     *sendOp

	deferred      []any // held linkEvent/acceptEvent (interleave fault)
	deferredBytes int
	holdArmed     bool

	resetServed bool // the reset-serving fault fired (once per Serve)
	clientReset bool // the client-reset fault fired (once per Serve)
}

func newSession(e *Emulator, rw io.ReadWriter) *session {
	s := &session{
		e:       e,
		cfg:     e.cfg,
		log:     e.log,
		v1:      e.cfg.Firmware == Firmware17,
		rw:      rw,
		out:     newOutput(),
		done:    make(chan struct{}),
		in:      make(chan []byte),
		readErr: make(chan error, 1),
		events:  make(chan linkEvent),
		accepts: make(chan acceptEvent),
		calls:   make(chan call),
		timers:  map[uint64]*time.Timer{},
		defBaud: e.cfg.Baud,
	}
	s.faults = newInjector(e.cfg.Faults, e.cfg.FaultRate, e.cfg.Seed, func(f Fault) {
		e.count(func(st *Stats) { st.Faults[f]++ })
		s.log.Debug("fault injected", "fault", f)
	})
	s.cmds = commandTable(s.v1)
	return s
}

// run is the firmware goroutine: it owns every piece of state and returns
// when ctx is done or the serial stream fails.
func (s *session) run(ctx context.Context) error {
	s.ctx = ctx
	s.opCtx, s.opCancel = context.WithCancel(ctx)
	s.wg.Add(2)
	go s.readSerial()
	go func() {
		defer s.wg.Done()
		s.out.run(s.rw, newThrottle(s.cfg.Baud), s.done, func(n int) {
			s.e.count(func(st *Stats) { st.BytesOut += int64(n) })
		})
	}()
	defer s.shutdown()

	s.powerUp()
	tick := time.NewTicker(idleCheck)
	defer tick.Stop()
	for {
		s.pump()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-s.readErr:
			return fmt.Errorf("emulator: reading the serial stream: %w", err)
		case err := <-s.out.failed:
			return fmt.Errorf("emulator: writing the serial stream: %w", err)
		case p := <-s.in:
			s.feed(p)
		case ev := <-s.events:
			s.onLinkEvent(ev)
		case ev := <-s.accepts:
			s.onAccept(ev)
		case c := <-s.calls:
			s.onCall(c)
		case <-s.out.drained:
		case <-tick.C:
			s.checkIdle()
		}
	}
}

// readSerial copies the serial stream into the firmware goroutine.
func (s *session) readSerial() {
	defer s.wg.Done()
	for {
		buf := make([]byte, 512)
		n, err := s.rw.Read(buf)
		if n > 0 {
			s.e.count(func(st *Stats) { st.BytesIn += int64(n) })
			select {
			case s.in <- buf[:n]:
			case <-s.done:
				return
			}
		}
		if err != nil {
			select {
			case s.readErr <- err:
			default:
			}
			return
		}
	}
}

type readDeadliner interface{ SetReadDeadline(time.Time) error }
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// shutdown stops every goroutine of the session and closes every socket.
func (s *session) shutdown() {
	close(s.done)
	s.opCancel()
	past := time.Unix(1, 0)
	rd, canRead := s.rw.(readDeadliner)
	wd, canWrite := s.rw.(writeDeadliner)
	if canRead {
		_ = rd.SetReadDeadline(past)
	}
	if canWrite {
		_ = wd.SetWriteDeadline(past)
	}
	s.dropAll()
	for id, t := range s.timers {
		if t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, id)
	}
	s.wg.Wait()
	if canRead {
		_ = rd.SetReadDeadline(time.Time{})
	}
	if canWrite {
		_ = wd.SetWriteDeadline(time.Time{})
	}
}

// dropAll closes every link, the server and held connections, silently.
func (s *session) dropAll() {
	for _, l := range s.links {
		if l != nil {
			s.dropLink(l)
		}
	}
	s.stopServer()
	for _, ev := range s.deferred {
		if a, ok := ev.(acceptEvent); ok {
			a.conn.Close()
		}
	}
	s.deferred, s.deferredBytes, s.holdArmed = nil, 0, false
}

// after runs f on the firmware goroutine after d, unless the module resets
// first.
func (s *session) after(d time.Duration, f func()) {
	s.timerSeq++
	id, gen := s.timerSeq, s.gen
	s.wg.Add(1)
	s.timers[id] = time.AfterFunc(d, func() {
		defer s.wg.Done()
		select {
		case s.calls <- call{gen: gen, timer: id, run: f}:
		case <-s.done:
		}
	})
}

// async runs work on its own goroutine with a context that ends at reset or
// shutdown. The finish function it returns runs on the firmware goroutine if
// the module has not reset meanwhile; otherwise drop (if not nil) runs.
func (s *session) async(work func(ctx context.Context) (finish, drop func())) {
	gen, ctx := s.gen, s.opCtx
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		finish, drop := work(ctx)
		select {
		case s.calls <- call{gen: gen, run: finish, drop: drop}:
		case <-s.done:
			if drop != nil {
				drop()
			}
		}
	}()
}

func (s *session) onCall(c call) {
	if c.timer != 0 {
		delete(s.timers, c.timer)
	}
	if c.gen != s.gen {
		if c.drop != nil {
			c.drop()
		}
		return
	}
	c.run()
}

// sleepCtx waits for d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Output helpers. Everything goes through s.out in order; the pending 1.x
// echo is flushed first so it keeps its place.

func (s *session) flushEcho() {
	if s.echoHold && !s.faults.enabled(FaultInterleave) {
		return // a 1.x line is half received: its echo waits for the '\n'
	}
	if len(s.echoBuf) > 0 {
		s.out.push(s.echoBuf)
		s.echoBuf = nil
	}
}

// put queues bytes that are never preceded by injected garbage (echo, busy,
// boot output).
func (s *session) put(msg string) {
	s.flushEcho()
	s.out.push([]byte(msg))
}

// emitBytes queues one firmware message; the garbage fault may put a noise
// line before it, never inside it.
func (s *session) emitBytes(b []byte) {
	s.flushEcho()
	if s.faults.fire(FaultGarbage) {
		s.out.push(garbageLine(s.faults))
	}
	s.out.push(b)
}

func (s *session) emit(msg string) { s.emitBytes([]byte(msg)) }

func (s *session) ok() { s.emit("\r\nOK\r\n") }

// 2.x error codes printed with ErrCodes / AT+SYSLOG=1.
const (
	errNoTerminator uint32 = 0x01020000
	errNoHead       uint32 = 0x01030000
	errParamCount   uint32 = 0x01060000
	errParamParse   uint32 = 0x01080000
	errUnknown      uint32 = 0x01090000
)

// fail answers ERROR. 1.x prints reason on the AT port first; 2.x sends the
// reason to its console only and may print an ERR CODE line.
func (s *session) fail(reason string, code uint32) {
	msg := ""
	if s.v1 && reason != "" {
		msg = reason + "\r\n"
	}
	if !s.v1 && s.set.errCodes && code != 0 {
		msg += fmt.Sprintf("ERR CODE:0x%08x\r\n", code)
	}
	if reason != "" {
		s.log.Debug("command failed", "reason", reason)
	}
	s.emit(msg + "\r\nERROR\r\n")
}

func (s *session) busy(msg string) {
	s.e.count(func(st *Stats) { st.BusyReplies++ })
	s.put(msg)
}

// startAsync enters the busy state for an asynchronous command and releases
// held events (they may appear between a command and its result).
func (s *session) startAsync() {
	s.rx = rxBusy
	s.releaseAtPoint()
}

func (s *session) endAsync() {
	if s.rx == rxBusy {
		s.rx = rxIdle
	}
}
