package sdktest

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// maxFill is the largest MaxSockets the suite fills without LimitSettings.
const maxFill = 256

// limitSettings returns the settings that make the limit small.
func (s *suite) limitSettings() sdk.Settings {
	if s.h.LimitSettings != nil {
		return s.h.LimitSettings
	}
	return s.h.Settings
}

// testSocketLimit: the driver holds Info.MaxSockets sockets, answers the
// next request with ErrNoSockets (never a hang), and a socket freed makes
// room again.
func testSocketLimit(t *testing.T, x *subtest) {
	e := x.open(x.s.limitSettings())
	e.fill()
}

// fill opens sockets until the driver answers ErrNoSockets, checks that a
// socket freed makes room again, then closes what it opened. It uses
// listeners when the driver may hold MaxSockets of them, else connections
// to the echo server, else connections to itself.
func (e *env) fill() {
	t, h, max := e.t, e.x.s.h, e.info.MaxSockets
	t.Helper()
	if h.LimitSettings == nil && max > maxFill {
		t.Skipf("Info.MaxSockets is %d: set Harness.LimitSettings to make the limit small", max)
	}
	var open []*conn
	defer func() {
		for _, c := range open {
			_ = e.closeSocket(c)
		}
	}()
	var more func() (*conn, error)
	// The accepted end of each connection to itself, where it outlives its
	// client's close (a driver that can half-close: it gets Finished and
	// stays open until closed).
	accepted := map[*conn]*conn{}
	switch {
	case e.info.CanListen && (e.info.MaxListeners == 0 || e.info.MaxListeners >= max):
		more = func() (*conn, error) {
			for {
				l, err := e.tryListen(e.x.s.port(t), nil)
				if !errors.Is(err, sdk.ErrAddressInUse) {
					return l, err
				}
			}
		}
	case h.EchoServer != nil:
		host, port := h.EchoServer(t)
		more = func() (*conn, error) { return e.connect(host, port, nil) }
		if m := e.info.MaxConnections; m > 0 {
			max = min(max, m) // connections alone have their own bound
		}
	case e.canSelf():
		l := e.listen(nil)
		open = append(open, l)
		more = func() (*conn, error) {
			c, err := e.connect(h.SelfHost, e.portOf(l), nil)
			if err == nil && e.info.CanHalfClose {
				accepted[c] = e.accept(l)
			}
			return c, err
		}
	default:
		t.Skip("needs listen support, Harness.EchoServer or Harness.SelfHost to open sockets")
	}
	var err error
	for {
		var c *conn
		if c, err = more(); err != nil {
			break
		}
		open = append(open, c)
		if len(open) > max {
			t.Fatalf("opened %d sockets, but the limit (Info.MaxSockets, or MaxConnections for connections) is %d", len(open), max)
		}
	}
	switch {
	case ctxErr(err):
		t.Fatalf("after %d sockets (Info.MaxSockets %d) the next call hung until its ctx ended (%v): answer ErrNoSockets at once (rule 1)", len(open), max, err)
	case !errors.Is(err, sdk.ErrNoSockets):
		t.Fatalf("after %d sockets (Info.MaxSockets %d): %v, want ErrNoSockets", len(open), max, err)
	}
	t.Logf("ErrNoSockets after %d sockets of %d: %v", len(open), max, err)
	if _, err := more(); !errors.Is(err, sdk.ErrNoSockets) {
		t.Fatalf("asking again at the limit: %v, want ErrNoSockets", err)
	}

	last := open[len(open)-1]
	open = open[:len(open)-1]
	e.mustClose(last)
	if a := accepted[last]; a != nil {
		e.awaitFinished(a)
		e.mustClose(a)
	}
	c, err := e.retryNoSockets(more)
	if err != nil {
		t.Fatalf("a socket was closed at the limit, yet: %v", err)
	}
	open = append(open, c)
}

// retryNoSockets calls more until it does not fail with ErrNoSockets, for
// a moment: a socket closed may be freed just after its close returns (its
// accepted peer waits for its Dropped, on a driver that cannot half-close).
func (e *env) retryNoSockets(more func() (*conn, error)) (*conn, error) {
	deadline := time.Now().Add(e.x.s.scale(baseWait))
	for {
		c, err := more()
		if !errors.Is(err, sdk.ErrNoSockets) || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// testChurn: 200 connections and 200 listeners opened and closed leak
// nothing: the driver's goroutines return to their count, the full limit
// can be opened afterwards, and Close leaves no goroutine behind.
func testChurn(t *testing.T, x *subtest) {
	before := runtime.NumGoroutine()
	e := x.open(x.s.limitSettings())
	h := x.s.h
	const cycles = 200
	var cycle func()
	var churnL *conn
	switch {
	case e.canSelf():
		l := e.listen(nil)
		churnL = l
		port := e.portOf(l)
		cycle = func() {
			c := e.mustConnect(h.SelfHost, port, nil)
			a := e.accept(l)
			e.mustClose(c)
			if e.awaitPeerEnd(a, "after the peer closed") {
				e.mustClose(a) // it stays open until the host closes it (rule 11)
			}
		}
	case h.EchoServer != nil:
		host, port := h.EchoServer(t)
		cycle = func() { e.mustClose(e.mustConnect(host, port, nil)) }
	}
	if cycle != nil {
		cycle() // a first connection may start goroutines that stay
		base := runtime.NumGoroutine()
		for range cycles {
			cycle()
		}
		e.awaitGoroutines(base, fmt.Sprintf("after %d connections opened and closed", cycles))
	}
	if churnL != nil {
		e.mustClose(churnL) // a driver may hold one listener only
	}
	if e.info.CanListen {
		base := runtime.NumGoroutine()
		for range cycles {
			e.mustClose(e.listen(nil))
		}
		e.awaitGoroutines(base, fmt.Sprintf("after %d listeners opened and closed", cycles))
	}
	if h.LimitSettings != nil || e.info.MaxSockets <= maxFill {
		if e.pairL != nil {
			e.mustClose(e.pairL)
		}
		e.fill()
	}
	if err := e.closeDriver(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	e.awaitGoroutines(before, "after Close")
}

// goroutineSlack is how many goroutines above a count the suite tolerates:
// its own timers and the runtime's come and go.
const goroutineSlack = 2

// awaitGoroutines waits for the process's goroutines to fall back to base.
func (e *env) awaitGoroutines(base int, when string) {
	e.t.Helper()
	deadline := time.Now().Add(e.x.s.scale(baseWait))
	for {
		n := runtime.NumGoroutine()
		if n <= base+goroutineSlack {
			return
		}
		if time.Now().After(deadline) {
			e.t.Errorf("%s: %d goroutines, %d before: the driver leaks goroutines. Goroutines:\n%s", when, n, base, goroutines())
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
