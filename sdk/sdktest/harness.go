package sdktest

import (
	"math"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// Harness tells the suite how to make and reach the driver under test.
// Only New is required; each optional field the harness leaves unset skips
// the subtests that need it, with a message that says which field to set.
type Harness struct {
	// New returns a fresh, unopened driver for one subtest. The suite Opens
	// it with its own Events and Closes it.
	New func(t testing.TB) sdk.Driver
	// Settings are the settings for Open.
	Settings sdk.Settings
	// LimitSettings are settings that make the socket limit small (e.g.
	// {"max_sockets": "4"}), for the subtests that fill the limit; nil uses
	// Info.MaxSockets as it is (those subtests skip above 256).
	LimitSettings sdk.Settings
	// SelfHost is the host the driver's Connect uses to reach its own
	// listeners, e.g. "127.0.0.1"; "" means it cannot self-connect.
	SelfHost string
	// FreePort returns a free port to Listen on; nil lets the suite pick
	// ports from a range itself, trying another when one is in use. A
	// FreePort returning 0 has every listener of the suite get its port
	// from the driver (rule 12), learned with Local.
	FreePort func(t testing.TB) int
	// EchoServer optionally starts an echo server outside the driver that
	// Connect can reach, and returns its host and port. It echoes every
	// byte until it reads the end of the stream (the driver's CloseWrite,
	// or its close), then closes the connection: io.Copy then Close.
	EchoServer func(t testing.TB) (host string, port int)
	// Dial optionally connects from outside to a port the driver listens on.
	// A connection with a CloseWrite method (*net.TCPConn has one) also
	// runs the half-close subtests from outside.
	Dial func(t testing.TB, port int) (net.Conn, error)
	// Slow scales every time limit of the suite, for slow drivers (an
	// ESP8266 at a low baud rate); 0 means 1.
	Slow float64
	// IPv6 says the driver can reach "::1".
	IPv6 bool
}

// Base time limits, multiplied by Harness.Slow. On loopback each subtest
// takes milliseconds: these only bound a broken driver.
const (
	baseBudget = 30 * time.Second // a subtest's watchdog
	baseGrace  = 15 * time.Second // after the watchdog fired, before the run is aborted
	baseCall   = 10 * time.Second // one driver call
	baseWait   = 10 * time.Second // one wait for events
	baseClaim  = 3 * time.Second  // an event waiting for its socket to be announced
)

// Run runs the conformance suite against the driver that h makes: one
// named subtest per rule, each on its own driver, with a watchdog. It is
// safe to run under -race; it does not call t.Parallel.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("sdktest: Harness.New is nil: give a function returning a fresh driver")
	}
	s := &suite{h: h, slow: h.Slow}
	if s.slow <= 0 {
		s.slow = 1
	}
	s.nextPort = 20000 + rand.IntN(20000)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { s.run(t, c) })
	}
}

// suite is the state of one Run.
type suite struct {
	h    Harness
	slow float64

	mu       sync.Mutex
	nextPort int
}

// scale multiplies a base time limit by Harness.Slow.
func (s *suite) scale(d time.Duration) time.Duration { return time.Duration(float64(d) * s.slow) }

// bulk scales a bulk transfer of n bytes down for slow drivers (Slow above
// 1: an ESP8266 through a UART), keeping the subtest within its budget:
// what a subtest checks does not depend on the size.
func (s *suite) bulk(n int) int {
	if s.slow <= 1 {
		return n
	}
	return max(n/int(math.Ceil(2*s.slow)), 1<<10)
}

// port returns a port to listen on.
func (s *suite) port(t testing.TB) int {
	if s.h.FreePort != nil {
		return s.h.FreePort(t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextPort++
	if s.nextPort > 60000 {
		s.nextPort = 20001
	}
	return s.nextPort
}

// testCase is one subtest of the suite.
type testCase struct {
	name   string
	rule   string // the contract rule it checks: "rule N" or "lifecycle"
	tier   Tier
	checks string        // what it checks, in a line
	budget time.Duration // watchdog before scaling; 0 means baseBudget
	fn     func(t *testing.T, x *subtest)
}

// Tier ranks a case, as Mbed OS's netsocket test plan ranks its cases: a
// driver conforms when every Must case passes (or skips for a capability
// it does not declare); a Should case checks what users expect of a good
// driver but some devices cannot give.
type Tier string

// The tiers.
const (
	Must   Tier = "MUST"
	Should Tier = "SHOULD"
)

// Case describes one case of the suite, for tools that report on a run
// (`host conform`). Run names each case's subtest Name.
type Case struct {
	Name   string
	Rule   string // the rule of the contract it checks: "rule 2", or "lifecycle"
	Tier   Tier
	Checks string // what it checks, in a line
}

// Cases lists the suite's cases in the order Run runs them.
func Cases() []Case {
	out := make([]Case, len(cases))
	for i, c := range cases {
		out[i] = Case{Name: c.name, Rule: c.rule, Tier: c.tier, Checks: c.checks}
	}
	return out
}

// subtest is what a running subtest knows: its suite and its watchdog.
type subtest struct {
	s  *suite
	t  *testing.T
	wd *watchdog

	mu       sync.Mutex
	finished bool // the subtest is over: reports would panic
}

func (s *suite) run(t *testing.T, c testCase) {
	budget := c.budget
	if budget == 0 {
		budget = baseBudget
	}
	x := &subtest{s: s, t: t}
	t.Cleanup(x.finish) // first registered, so it runs last
	x.wd = startWatchdog(t, c.name, s.scale(budget), s.scale(baseGrace))
	defer func() {
		// A panic in the driver, called from the subtest, fails this
		// subtest alone rather than the whole run.
		if r := recover(); r != nil {
			t.Errorf("panic in subtest %s (in the driver?): %v\n%s", c.name, r, debug.Stack())
		}
	}()
	c.fn(t, x)
}

// report fails the subtest from any goroutine, until the subtest is over.
func (x *subtest) report(format string, args ...any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.finished {
		x.t.Errorf(format, args...)
	}
}

// logf logs from any goroutine until the subtest is over.
func (x *subtest) logf(format string, args ...any) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.finished {
		x.t.Logf(format, args...)
	}
}

func (x *subtest) finish() {
	x.mu.Lock()
	x.finished = true
	x.mu.Unlock()
}
