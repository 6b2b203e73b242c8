package esp8266

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
)

// watchdog bounds every wait of these tests: the machine is shared and
// noisy, so it is generous; it only catches hangs.
const watchdog = 20 * time.Second

// step is one exchange of a modem script: when the host has written want,
// the modem answers reply.
type step struct {
	want  string
	reply string
}

// modem is a scripted ESP8266 for playback tests (periph i2ctest style): it
// checks that the host writes exactly what the script wants, in order,
// answers with the script's bytes, and fails the test when the script is
// not used up. Emit sends unsolicited bytes at any time. It is an
// io.ReadWriteCloser whose Close unblocks a pending Read.
type modem struct {
	t      testing.TB
	mu     sync.Mutex
	cond   *sync.Cond
	script []step
	got    []byte // written and not matched yet
	out    []byte // to be read by the host
	closed bool
	bad    error
	writes []string // everything the host wrote, for failure messages
	// lenient: the script need not be used up (a test of a dead module).
	lenient bool
}

func newModem(t testing.TB, steps ...step) *modem {
	m := &modem{t: t, script: steps}
	m.cond = sync.NewCond(&m.mu)
	t.Cleanup(func() {
		m.Close()
		m.mu.Lock()
		defer m.mu.Unlock()
		if len(m.script) > 0 && !m.lenient {
			t.Errorf("modem: script not used up: next step wants %q", m.script[0].want)
		}
	})
	return m
}

// expect appends steps to the script.
func (m *modem) expect(steps ...step) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.script = append(m.script, steps...)
	m.cond.Broadcast()
}

// emit queues unsolicited bytes for the host.
func (m *modem) emit(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out = append(m.out, s...)
	m.cond.Broadcast()
}

func (m *modem) Read(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.out) == 0 && !m.closed {
		m.cond.Wait()
	}
	if m.closed {
		return 0, io.ErrClosedPipe
	}
	n := copy(p, m.out)
	m.out = m.out[n:]
	return n, nil
}

func (m *modem) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, io.ErrClosedPipe
	}
	m.writes = append(m.writes, string(p))
	m.got = append(m.got, p...)
	for len(m.script) > 0 && len(m.got) >= len(m.script[0].want) {
		want := m.script[0].want
		if !bytes.HasPrefix(m.got, []byte(want)) {
			break
		}
		m.got = m.got[len(want):]
		m.out = append(m.out, m.script[0].reply...)
		m.script = m.script[1:]
	}
	if len(m.got) > 0 && (len(m.script) == 0 || !strings.HasPrefix(m.script[0].want, string(m.got))) {
		next := "(end of script)"
		if len(m.script) > 0 {
			next = fmt.Sprintf("%q", m.script[0].want)
		}
		if m.bad == nil {
			m.bad = fmt.Errorf("host wrote %q, script wants %s", m.got, next)
			m.t.Errorf("modem: %v", m.bad)
		}
		m.got = nil
	}
	m.cond.Broadcast()
	return len(p), nil
}

func (m *modem) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.cond.Broadcast()
	return nil
}

// wait waits until the script is used up.
func (m *modem) wait() {
	m.t.Helper()
	deadline := time.Now().Add(watchdog)
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.script) > 0 {
		if time.Now().After(deadline) {
			m.t.Fatalf("modem: script not used up after %v; next step wants %q; host wrote %q", watchdog, m.script[0].want, m.writes)
		}
		m.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		m.mu.Lock()
	}
}

// done checks that the script was used up and nothing unexpected came.
func (m *modem) done() {
	m.t.Helper()
	m.wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.got) > 0 {
		m.t.Errorf("modem: host wrote %q past the script", m.got)
	}
}

// Bring-up scripts, byte for byte as the reference gives the answers.

const gmr17 = "AT version:1.7.4.0(May 11 2020 19:13:04)\r\nSDK version:3.0.4(9532ceb)\r\ncompile time:May 27 2020 10:12:22\r\nBin version(Wroom 02):1.7.4\r\nOK\r\n"
const gmr22 = "AT version:2.2.0.0(b097cdf - ESP8266 - Jun 17 2021 12:57:45)\r\nSDK version:v3.4-22-g967752e2\r\ncompile time(6800286):Aug  4 2021 17:20:05\r\nBin version:2.2.0(WROOM-02)\r\n\r\nOK\r\n"

const cifsr = "+CIFSR:STAIP,\"192.168.1.5\"\r\n+CIFSR:STAMAC,\"bc:dd:c2:fe:20:df\"\r\n\r\nOK\r\n"

// bringup17 is the bring-up of a 1.7 module with echo on (as after power
// up), passive mode when passive is true.
func bringup17(passive bool) []step {
	s := []step{
		{"AT\r\n", "AT\r\r\n\r\nOK\r\n"},
		{"ATE0\r\n", "ATE0\r\r\n\r\nOK\r\n"},
		{"AT+GMR\r\n", gmr17},
		{"AT+CWMODE_CUR=1\r\n", "\r\nOK\r\n"},
		{"AT+CIPSERVER=0\r\n", "\r\nERROR\r\n"},
		{"AT+CIPCLOSE=5\r\n", "MUX=0\r\n\r\nERROR\r\n"},
		{"AT+CIPMUX=1\r\n", "\r\nOK\r\n"},
		{"AT+CIPDINFO=1\r\n", "\r\nOK\r\n"},
		{"AT+CIFSR\r\n", cifsr},
	}
	if passive {
		s = append(s, step{"AT+CIPRECVMODE=1\r\n", "\r\nOK\r\n"})
	}
	return s
}

// bringup22 is the bring-up of a 2.2 module (echo "AT\r\n" unchanged),
// passive mode when passive is true.
func bringup22(passive bool) []step {
	s := []step{
		{"AT\r\n", "AT\r\n\r\nOK\r\n"},
		{"ATE0\r\n", "ATE0\r\n\r\nOK\r\n"},
		{"AT+GMR\r\n", gmr22},
		{"AT+CWMODE=1\r\n", "\r\nOK\r\n"},
		{"AT+CIPSERVER=0\r\n", "\r\nERROR\r\n"},
		{"AT+CIPCLOSE=5\r\n", "\r\nERROR\r\n"},
		{"AT+CIPMUX=1\r\n", "\r\nOK\r\n"},
		{"AT+CIPDINFO=1\r\n", "\r\nOK\r\n"},
		{"AT+CIFSR\r\n", cifsr},
	}
	if passive {
		s = append(s, step{"AT+CIPRECVMODE=1\r\n", "\r\nOK\r\n"})
	}
	return s
}

// recorder is an sdk.Events that records every event per socket and checks
// the ordering rules (rule 2) as they come.
type recorder struct {
	mu       sync.Mutex
	changed  chan struct{}
	data     map[sdk.Socket]*bytes.Buffer
	dropped  map[sdk.Socket]error
	accepted map[sdk.Socket]netip.AddrPort
	parents  map[sdk.Socket]sdk.Socket
	busy     map[sdk.Socket]bool
	closed   bool // Close returned: no event may come
	errs     []string
	// onReceived runs inside Received (outside the lock).
	onReceived func(s sdk.Socket, data []byte) error
}

func newRecorder() *recorder {
	return &recorder{
		changed: make(chan struct{}), data: map[sdk.Socket]*bytes.Buffer{},
		dropped: map[sdk.Socket]error{}, accepted: map[sdk.Socket]netip.AddrPort{},
		parents: map[sdk.Socket]sdk.Socket{}, busy: map[sdk.Socket]bool{},
	}
}

func (r *recorder) begin(s sdk.Socket, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		r.errs = append(r.errs, fmt.Sprintf("%s on %v after Close returned", what, s))
	}
	if _, ok := r.dropped[s]; ok {
		r.errs = append(r.errs, fmt.Sprintf("%s on %v after Dropped", what, s))
	}
	if r.busy[s] {
		r.errs = append(r.errs, fmt.Sprintf("%s on %v while another of its events runs", what, s))
	}
	r.busy[s] = true
}

func (r *recorder) end(s sdk.Socket) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.busy[s] = false
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) Accepted(l, s sdk.Socket, peer netip.AddrPort) {
	r.begin(s, "Accepted")
	r.mu.Lock()
	if r.data[s] != nil {
		r.errs = append(r.errs, fmt.Sprintf("Accepted on %v after its data", s))
	}
	r.accepted[s] = peer
	r.parents[s] = l
	r.mu.Unlock()
	r.end(s)
}

func (r *recorder) Received(s sdk.Socket, data []byte) error {
	r.begin(s, "Received")
	r.mu.Lock()
	if r.data[s] == nil {
		r.data[s] = &bytes.Buffer{}
	}
	r.data[s].Write(data)
	f := r.onReceived
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
	var err error
	if f != nil {
		err = f(s, data)
	}
	r.end(s)
	return err
}

// Finished is never raised by this driver (Info.CanHalfClose is false: the
// peer's close is Dropped(ErrPeerClosed)); it is recorded as a violation.
func (r *recorder) Finished(s sdk.Socket) {
	r.begin(s, "Finished")
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf("Finished on %v from a driver that cannot half-close", s))
	r.mu.Unlock()
	r.end(s)
}

func (r *recorder) Dropped(s sdk.Socket, reason error) {
	r.begin(s, "Dropped")
	r.mu.Lock()
	r.dropped[s] = reason
	r.mu.Unlock()
	r.end(s)
}

// until waits until cond (called with the lock held) holds.
func (r *recorder) until(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(watchdog)
	defer timer.Stop()
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("waited %v for %s", watchdog, what)
		}
	}
}

func (r *recorder) bytesOf(s sdk.Socket) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data[s] == nil {
		return nil
	}
	return bytes.Clone(r.data[s].Bytes())
}

func (r *recorder) waitBytes(t testing.TB, s sdk.Socket, n int) []byte {
	t.Helper()
	r.until(t, fmt.Sprintf("%d bytes on %v", n, s), func() bool {
		_, gone := r.dropped[s]
		return gone || (r.data[s] != nil && r.data[s].Len() >= n)
	})
	return r.bytesOf(s)
}

func (r *recorder) waitDropped(t testing.TB, s sdk.Socket) error {
	t.Helper()
	r.until(t, fmt.Sprintf("Dropped on %v", s), func() bool { _, ok := r.dropped[s]; return ok })
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped[s]
}

func (r *recorder) waitAccepted(t testing.TB, l sdk.Socket) sdk.Socket {
	t.Helper()
	var got sdk.Socket
	r.until(t, fmt.Sprintf("Accepted on %v", l), func() bool {
		for s, p := range r.parents {
			if p == l {
				got = s
				return true
			}
		}
		return false
	})
	return got
}

// check fails t with every rule broken so far, and marks Close returned.
func (r *recorder) check(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, e := range r.errs {
		t.Error(e)
	}
}

// testLogger sends the driver's log to the test log.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "esp8266", Level: hclog.Trace, Output: tlogWriter{t}, DisableTime: true})
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// scripted opens a driver on m with settings, checking Close at cleanup.
func scripted(t *testing.T, m *modem, settings sdk.Settings) (*Driver, *recorder, sdk.Info) {
	t.Helper()
	d := NewOnPort(m)
	rec := newRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), watchdog)
	defer cancel()
	info, err := d.Open(ctx, sdk.OpenRequest{Interface: "wl0", Settings: settings, Events: rec, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), watchdog)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		rec.check(t)
	})
	return d, rec, info
}

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), watchdog)
}

func wantIs(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func hclogTo(w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Trace})
}
