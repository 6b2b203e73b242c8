package hostnet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

// watchdog bounds every wait of these tests: the machine is shared and
// noisy, so it is generous; it only catches hangs.
const watchdog = 20 * time.Second

// recorder is an sdk.Events that records everything per socket and checks
// the ordering rules of the contract (rule 2) as events come in.
type recorder struct {
	// onReceived, when set, runs inside Received after the data is recorded.
	onReceived func(s sdk.Socket, data []byte) error
	// onFinished, when set, runs inside Finished after it is recorded.
	onFinished func(s sdk.Socket)

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every event
	streams    map[sdk.Socket]*stream
	accepts    []acceptEvent
	violations []string
}

type stream struct {
	listener sdk.Socket // set for accepted sockets
	peer     netip.AddrPort
	data     bytes.Buffer
	finished bool  // set by Finished
	dropped  error // set by Dropped
	inflight atomic.Int32
}

type acceptEvent struct {
	listener, sock sdk.Socket
	peer           netip.AddrPort
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}), streams: make(map[sdk.Socket]*stream)}
}

func (r *recorder) stream(s sdk.Socket) *stream {
	st := r.streams[s]
	if st == nil {
		st = &stream{}
		r.streams[s] = st
	}
	return st
}

// enter and leave bracket a callback, recording concurrent callbacks of one
// socket, events after its Dropped, and data or a second Finished after its
// Finished.
func (r *recorder) enter(s sdk.Socket, what string) *stream {
	r.mu.Lock()
	st := r.stream(s)
	if st.dropped != nil {
		r.violations = append(r.violations, fmt.Sprintf("%s of %s after Dropped", what, s))
	}
	if st.finished && what != "Dropped" {
		r.violations = append(r.violations, fmt.Sprintf("%s of %s after Finished", what, s))
	}
	r.mu.Unlock()
	if st.inflight.Add(1) != 1 {
		r.violate("concurrent callbacks on %s (%s)", s, what)
	}
	return st
}

func (r *recorder) leave(st *stream) {
	st.inflight.Add(-1)
	r.mu.Lock()
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

func (r *recorder) violate(format string, args ...any) {
	r.mu.Lock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) Accepted(listener, s sdk.Socket, peer netip.AddrPort) {
	st := r.enter(s, "Accepted")
	defer r.leave(st)
	r.mu.Lock()
	if st.data.Len() > 0 || st.listener != 0 {
		r.violations = append(r.violations, fmt.Sprintf("Accepted of %s after its data or twice", s))
	}
	st.listener, st.peer = listener, peer
	r.accepts = append(r.accepts, acceptEvent{listener, s, peer})
	r.mu.Unlock()
}

func (r *recorder) Received(s sdk.Socket, data []byte) error {
	st := r.enter(s, "Received")
	defer r.leave(st)
	if len(data) == 0 {
		r.violate("empty Received on %s", s)
	}
	r.mu.Lock()
	st.data.Write(data)
	r.mu.Unlock()
	if r.onReceived != nil {
		return r.onReceived(s, data)
	}
	return nil
}

func (r *recorder) Finished(s sdk.Socket) {
	st := r.enter(s, "Finished")
	defer r.leave(st)
	r.mu.Lock()
	st.finished = true
	r.mu.Unlock()
	if r.onFinished != nil {
		r.onFinished(s)
	}
}

func (r *recorder) Dropped(s sdk.Socket, reason error) {
	st := r.enter(s, "Dropped")
	defer r.leave(st)
	r.mu.Lock()
	if reason == nil {
		r.violations = append(r.violations, fmt.Sprintf("Dropped of %s with a nil reason", s))
		reason = fmt.Errorf("nil reason")
	}
	st.dropped = reason
	r.mu.Unlock()
}

// wait waits until cond (called with r.mu held) holds, or fails the test.
func (r *recorder) wait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(watchdog)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		ch := r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("watchdog: still waiting for %s after %v", what, watchdog)
		}
	}
}

// data waits for n bytes on s and returns them.
func (r *recorder) data(t testing.TB, s sdk.Socket, n int) []byte {
	t.Helper()
	var out []byte
	r.wait(t, fmt.Sprintf("%d bytes on %s", n, s), func() bool {
		st := r.stream(s)
		if st.data.Len() >= n {
			out = bytes.Clone(st.data.Bytes())
			return true
		}
		return false
	})
	return out
}

// dropped waits for the Dropped of s and returns its reason.
func (r *recorder) dropped(t testing.TB, s sdk.Socket) error {
	t.Helper()
	var reason error
	r.wait(t, "Dropped of "+s.String(), func() bool {
		reason = r.stream(s).dropped
		return reason != nil
	})
	return reason
}

// finished waits for the Finished of s and returns the data received before
// it. A Dropped instead fails the test.
func (r *recorder) finished(t testing.TB, s sdk.Socket) []byte {
	t.Helper()
	var out []byte
	var dropped error
	r.wait(t, "Finished of "+s.String(), func() bool {
		st := r.stream(s)
		out, dropped = bytes.Clone(st.data.Bytes()), st.dropped
		return st.finished || dropped != nil
	})
	if dropped != nil {
		t.Fatalf("%s dropped (%v), want Finished", s, dropped)
	}
	return out
}

// accepted waits for the nth Accepted (from 1) and returns it.
func (r *recorder) accepted(t testing.TB, n int) acceptEvent {
	t.Helper()
	var ev acceptEvent
	r.wait(t, fmt.Sprintf("accept #%d", n), func() bool {
		if len(r.accepts) >= n {
			ev = r.accepts[n-1]
			return true
		}
		return false
	})
	return ev
}

// check fails the test on any ordering violation seen so far.
func (r *recorder) check(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.violations {
		t.Errorf("contract violation: %s", v)
	}
}

// open opens a Driver with settings and events, closed at the end of the test.
func open(t testing.TB, events sdk.Events, settings sdk.Settings) (*Driver, sdk.Info) {
	t.Helper()
	d := New()
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	info, err := d.Open(ctx, sdk.OpenRequest{
		Interface: "test0",
		Settings:  settings,
		Events:    events,
		Logger:    hclog.New(&hclog.LoggerOptions{Name: "hostnet", Level: hclog.Warn, Output: testWriter{t}}),
	})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return d, info
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// ctxT returns a context bounded by the watchdog.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	t.Cleanup(cancel)
	return ctx
}

// echoServer starts a plain net echo server on network/addr ("tcp",
// "127.0.0.1:0") and returns its port. It stops at the end of the test.
func echoServer(t testing.TB, network, addr string) int {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatalf("echo server: %v", err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		stopped bool
		conns   = map[net.Conn]bool{}
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			if stopped {
				c.Close()
			}
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		stopped = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// listenZero listens on port 0 with d and returns the listener and the
// port the OS picked, which Local reports.
func listenZero(t testing.TB, d *Driver) (sdk.Socket, int) {
	t.Helper()
	l, err := d.Listen(context.Background(), sdk.ListenRequest{Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.Local(context.Background(), l)
	if err != nil || a.Port() == 0 {
		t.Fatalf("Local of a listener on port 0 = %v, %v", a, err)
	}
	return l, int(a.Port())
}

// closedPort returns a TCP port where nothing listened on 127.0.0.1 a
// moment ago: a connect there is refused.
func closedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// connectOut connects a socket of d to a plain TCP listener of the test and
// returns it with the accepted end, which is closed when the test ends.
func connectOut(t testing.TB, d *Driver) (sdk.Socket, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c.(*net.TCPConn)
}
