package sdktest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

// env is one opened driver of a subtest, with the suite's recorder as its
// Events. Its helpers call t.Fatal, so they belong to the subtest's own
// goroutine; goroutines a subtest starts use the *Err forms.
type env struct {
	t      *testing.T
	x      *subtest
	d      sdk.Driver
	info   sdk.Info
	rec    *recorder
	ctx    context.Context // canceled at teardown or when the watchdog fires
	cancel context.CancelFunc

	closedByTest bool
	echoL        *conn // the echo listener, made on first use
	pairL        *conn // the listener of pair, made on first use
}

// open makes, opens and registers the teardown of a driver with settings.
func (x *subtest) open(settings sdk.Settings) *env {
	e := x.unopened()
	info, err := e.d.Open(e.ctx, e.openRequest(settings))
	if err != nil {
		x.t.Fatalf("Open with settings {%s}: %v", settings.Redacted(), err)
	}
	e.info = info
	e.rec.setHalfClose(info.CanHalfClose)
	e.checkInfo()
	return e
}

// unopened makes a driver and registers its teardown, without opening it.
func (x *subtest) unopened() *env {
	t := x.t
	t.Helper()
	e := &env{t: t, x: x}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.rec = newRecorder(x.report, x.s.scale(baseClaim))
	e.d = x.s.h.New(t)
	if e.d == nil {
		t.Fatal("Harness.New returned a nil driver")
	}
	x.wd.onFire(e.cancel)
	t.Cleanup(e.teardown)
	return e
}

func (e *env) openRequest(settings sdk.Settings) sdk.OpenRequest {
	return sdk.OpenRequest{
		Interface: "sdktest0",
		Settings:  settings.Clone(),
		Events:    e.rec,
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:   "driver",
			Level:  hclog.Debug,
			Output: logWriter{e.x},
		}),
	}
}

// logWriter sends the driver's log lines to the subtest's log.
type logWriter struct{ x *subtest }

func (w logWriter) Write(p []byte) (int, error) {
	w.x.logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// checkInfo asserts what Open returned is self-consistent.
func (e *env) checkInfo() {
	i := e.info
	if i.Name == "" {
		e.t.Error("Open returned an Info with no Name")
	}
	if i.MaxSockets < 1 {
		e.t.Errorf("Open returned Info.MaxSockets = %d: want at least 1", i.MaxSockets)
	}
	if i.MaxListeners < 0 || i.MaxWrite < 0 {
		e.t.Errorf("Open returned Info.MaxListeners = %d, MaxWrite = %d: want 0 or more", i.MaxListeners, i.MaxWrite)
	}
	if i.MaxConnections < 0 || i.MaxConnections > i.MaxSockets {
		e.t.Errorf("Open returned Info.MaxConnections = %d with MaxSockets %d: want 0 (no bound of its own) to MaxSockets", i.MaxConnections, i.MaxSockets)
	}
}

// teardown cancels what still runs and closes the driver, then checks that
// the driver raised nothing afterwards.
func (e *env) teardown() {
	e.rec.beginClose()
	e.cancel()
	close(e.rec.done)
	if !e.closedByTest {
		if err := e.boundedClose(); err != nil && !errors.Is(err, sdk.ErrNotOpen) {
			e.t.Errorf("Close at the end of the subtest: %v", err)
		}
	}
	e.rec.endClose()
	e.rec.finish()
}

// boundedClose closes the driver, giving up (and leaking the call) when
// Close ignores its ctx, so that a stuck driver fails its subtest instead
// of hanging the run.
func (e *env) boundedClose() error {
	limit := e.x.s.scale(baseCall)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.d.Close(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit + e.x.s.scale(time.Second)):
		return fmt.Errorf("Close did not return %v after its ctx ended: it must never block forever", e.x.s.scale(time.Second))
	}
}

// closeDriver closes the driver within the subtest, checking it returns.
func (e *env) closeDriver() error {
	e.rec.beginClose()
	ctx, cancel := e.call()
	defer cancel()
	err := e.d.Close(ctx)
	e.closedByTest = true
	e.rec.endClose()
	return err
}

// call returns the context of one driver call.
func (e *env) call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.ctx, e.x.s.scale(baseCall))
}

// canSelf reports whether the driver can connect to its own listeners.
func (e *env) canSelf() bool { return e.x.s.h.SelfHost != "" && e.info.CanListen }

// needSelf skips the subtest unless the driver can connect to itself.
func (e *env) needSelf() {
	e.t.Helper()
	if e.x.s.h.SelfHost == "" {
		e.t.Skip("needs Harness.SelfHost: the host the driver connects to its own listeners with")
	}
	if !e.info.CanListen {
		e.t.Skip("the driver cannot listen (Info.CanListen is false)")
	}
}

// connect opens a client socket whose Received runs h.
func (e *env) connect(host string, port int, h handler) (*conn, error) {
	ctx, cancel := e.call()
	defer cancel()
	id, err := e.d.Connect(ctx, sdk.ConnectRequest{Host: host, Port: port})
	if err != nil {
		return nil, err
	}
	return e.rec.claim(id, kindClient, h, "Connect"), nil
}

func (e *env) mustConnect(host string, port int, h handler) *conn {
	e.t.Helper()
	c, err := e.connect(host, port, h)
	if err != nil {
		e.t.Fatalf("Connect(%s, %d): %v", host, port, err)
	}
	return c
}

// tryListen listens on port; the sockets it accepts run h.
func (e *env) tryListen(port int, h handler) (*conn, error) {
	ctx, cancel := e.call()
	defer cancel()
	id, err := e.d.Listen(ctx, sdk.ListenRequest{Port: port})
	if err != nil {
		return nil, err
	}
	l := e.rec.claim(id, kindListener, h, "Listen")
	if port == 0 {
		// The driver picked the port (rule 12): Local says which.
		a, err := e.local(l)
		if err != nil || a.Port() == 0 {
			return nil, fmt.Errorf("Local of %v = %v (error %v): want the port the driver picked for port 0 (rule 12)", l, a, err)
		}
		port = int(a.Port())
	}
	e.rec.mu.Lock()
	l.port = port
	e.rec.mu.Unlock()
	return l, nil
}

// listen listens on a free port, trying others while they are in use.
func (e *env) listen(h handler) *conn {
	e.t.Helper()
	var err error
	for range 20 {
		var l *conn
		if l, err = e.tryListen(e.x.s.port(e.t), h); err == nil {
			return l
		}
		if !errors.Is(err, sdk.ErrAddressInUse) {
			break
		}
	}
	e.t.Fatalf("Listen: %v", err)
	return nil
}

// portOf returns a listener's port.
func (e *env) portOf(l *conn) int {
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return l.port
}

// send sends data on c.
func (e *env) send(c *conn, data []byte) error {
	ctx, cancel := e.call()
	defer cancel()
	return e.d.Send(ctx, c.id, data)
}

func (e *env) mustSend(c *conn, data []byte) {
	e.t.Helper()
	if err := e.send(c, data); err != nil {
		e.t.Fatalf("Send(%v, %d bytes): %v", c, len(data), err)
	}
}

// closeSocket closes c locally, recording when the close began and ended.
func (e *env) closeSocket(c *conn) error {
	e.rec.mu.Lock()
	c.closeCalled = true
	e.rec.mu.Unlock()
	ctx, cancel := e.call()
	defer cancel()
	err := e.d.CloseSocket(ctx, c.id)
	e.rec.mu.Lock()
	c.closeReturned = true
	e.rec.mu.Unlock()
	return err
}

func (e *env) mustClose(c *conn) {
	e.t.Helper()
	if err := e.closeSocket(c); err != nil {
		e.t.Fatalf("CloseSocket(%v): %v", c, err)
	}
}

// closeWrite half-closes c (CloseWrite), recording it when it succeeds.
func (e *env) closeWrite(c *conn) error {
	ctx, cancel := e.call()
	defer cancel()
	err := e.d.CloseWrite(ctx, c.id)
	if err == nil {
		e.rec.mu.Lock()
		c.wroteEnd = true
		c.notify()
		e.rec.mu.Unlock()
	}
	return err
}

func (e *env) mustCloseWrite(c *conn) {
	e.t.Helper()
	if err := e.closeWrite(c); err != nil {
		e.t.Fatalf("CloseWrite(%v): %v", c, err)
	}
}

// needHalfClose skips the subtest unless the driver can half-close.
func (e *env) needHalfClose() {
	e.t.Helper()
	if !e.info.CanHalfClose {
		e.t.Skip("the driver cannot half-close (Info.CanHalfClose is false)")
	}
}

// peer returns Peer of c.
func (e *env) peer(c *conn) (netip.AddrPort, error) {
	ctx, cancel := e.call()
	defer cancel()
	return e.d.Peer(ctx, c.id)
}

// local returns Local of c.
func (e *env) local(c *conn) (netip.AddrPort, error) {
	ctx, cancel := e.call()
	defer cancel()
	return e.d.Local(ctx, c.id)
}

// setHandler replaces the handler of c.
func (e *env) setHandler(c *conn, h handler) {
	e.rec.mu.Lock()
	c.handler = h
	e.rec.mu.Unlock()
}

// setFinishedHandler replaces what runs inside Finished of c (of the
// sockets it accepts, for a listener).
func (e *env) setFinishedHandler(c *conn, h finishedHandler) {
	e.rec.mu.Lock()
	c.onFinished = h
	e.rec.mu.Unlock()
}

// awaitErr waits until cond, evaluated with the recorder locked, holds for
// c; it is safe from any goroutine.
func (e *env) awaitErr(c *conn, what string, cond func(c *conn) bool) error {
	timeout := e.x.s.scale(baseWait)
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		e.rec.mu.Lock()
		ok, changed, state := cond(c), c.changed, c.describe()
		e.rec.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return fmt.Errorf("waited %v for %s on %s", timeout, what, state)
		case <-e.ctx.Done():
			return fmt.Errorf("canceled while waiting for %s on %s", what, state)
		}
	}
}

// await is awaitErr for the subtest's goroutine: it fails the subtest.
func (e *env) await(c *conn, what string, cond func(c *conn) bool) {
	e.t.Helper()
	if err := e.awaitErr(c, what, cond); err != nil {
		e.t.Fatal(err)
	}
}

// awaitBytes waits for c to have received n bytes and returns them.
func (e *env) awaitBytes(c *conn, n int) []byte {
	e.t.Helper()
	e.await(c, fmt.Sprintf("%d received bytes", n), func(c *conn) bool { return c.n >= n || c.dropped || c.finished })
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	if c.n < n {
		e.t.Fatalf("%s before %d bytes arrived", c.describe(), n)
	}
	return c.data()
}

// received returns what c received so far.
func (e *env) received(c *conn) []byte {
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return c.data()
}

// awaitDrop waits for c's Dropped and returns its reason.
func (e *env) awaitDrop(c *conn) error {
	e.t.Helper()
	e.await(c, "Dropped", func(c *conn) bool { return c.dropped })
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return c.reason
}

// awaitFinished waits for c's Finished; a Dropped instead fails the
// subtest.
func (e *env) awaitFinished(c *conn) {
	e.t.Helper()
	e.await(c, "Finished", func(c *conn) bool { return c.finished || c.dropped })
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	if !c.finished {
		e.t.Fatalf("%s: want Finished (the peer finished sending in order; Info.CanHalfClose is true), not a Dropped", c.describe())
	}
}

// awaitPeerEnd waits for what follows a peer's orderly close (its
// CloseSocket or CloseWrite) on c, by capability (rule 11): Finished on a
// driver that can half-close, then c is still open; otherwise
// Dropped(ErrPeerClosed). what names the peer's close in messages. It
// reports whether c is still open.
func (e *env) awaitPeerEnd(c *conn, what string) (open bool) {
	e.t.Helper()
	if e.info.CanHalfClose {
		e.awaitFinished(c)
		if st := e.state(c); st.dropped {
			e.t.Errorf("%s: Dropped(%v) after Finished: a socket whose peer finished stays open until the host closes it", what, st.reason)
			return false
		}
		return true
	}
	wantErr(e.t, "Dropped reason "+what, e.awaitDrop(c), sdk.ErrPeerClosed)
	return false
}

// accept waits for the next socket l accepted.
func (e *env) accept(l *conn) *conn {
	e.t.Helper()
	e.await(l, "an Accepted", func(l *conn) bool { return len(l.queue) > 0 })
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	a := l.queue[0]
	l.queue = l.queue[1:]
	return a
}

// snapshot is what the recorder knows of a socket at one moment.
type snapshot struct {
	n        int   // bytes received
	finished bool  // the peer finished sending
	dropped  bool  // Dropped came
	reason   error // ... with this reason
}

// state returns a snapshot of what the recorder knows of c.
func (e *env) state(c *conn) snapshot {
	e.rec.mu.Lock()
	defer e.rec.mu.Unlock()
	return snapshot{n: c.n, finished: c.finished, dropped: c.dropped, reason: c.reason}
}
