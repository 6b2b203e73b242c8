package delaynet_test

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"example.com/delaynet"
	"github.com/ifsock/ifsock/sdk"
)

// events is a minimal sdk.Events for the tests below: it echoes what an
// accepted socket receives, and passes what the others receive to got.
type events struct {
	d        *delaynet.Driver
	accepted chan sdk.Socket
	got      chan []byte

	mu   sync.Mutex
	echo map[sdk.Socket]bool
}

func newEvents(d *delaynet.Driver) *events {
	return &events{d: d, accepted: make(chan sdk.Socket, 8), got: make(chan []byte, 64), echo: map[sdk.Socket]bool{}}
}

func (e *events) Accepted(_, s sdk.Socket, _ netip.AddrPort) {
	e.mu.Lock()
	e.echo[s] = true
	e.mu.Unlock()
	e.accepted <- s
}

func (e *events) Received(s sdk.Socket, data []byte) error {
	e.mu.Lock()
	echo := e.echo[s]
	e.mu.Unlock()
	if echo {
		return e.d.Send(context.Background(), s, data)
	}
	e.got <- data
	return nil
}

func (e *events) Finished(sdk.Socket)       {}
func (e *events) Dropped(sdk.Socket, error) {}

// open opens a driver with settings, closed when the test ends.
func open(t *testing.T, settings sdk.Settings) (*delaynet.Driver, *events) {
	t.Helper()
	d := delaynet.New()
	ev := newEvents(d)
	if _, err := d.Open(t.Context(), sdk.OpenRequest{Interface: "x0", Settings: settings, Events: ev, Logger: hclog.NewNullLogger()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d, ev
}

// echoPair listens on a port the host's network picks, connects to it, and
// returns the client socket, whose data the listener's side echoes.
func echoPair(t *testing.T, d *delaynet.Driver, ev *events) sdk.Socket {
	t.Helper()
	ctx := t.Context()
	l, err := d.Listen(ctx, sdk.ListenRequest{Port: 0})
	if err != nil {
		t.Fatalf("Listen on port 0: %v", err)
	}
	local, err := d.Local(ctx, l)
	if err != nil || local.Port() == 0 {
		t.Fatalf("Local of a listener on port 0 = %v, %v: want the port picked", local, err)
	}
	c, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: int(local.Port())})
	if err != nil {
		t.Fatal(err)
	}
	<-ev.accepted
	return c
}

// TestDelay: a round trip to the driver's own listener crosses the link
// four times (out and in at each end), so it takes at least four delays.
func TestDelay(t *testing.T) {
	const delay = 25 * time.Millisecond
	d, ev := open(t, sdk.Settings{"delay": delay.String()})
	c := echoPair(t, d, ev)
	start := time.Now()
	if err := d.Send(t.Context(), c, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if got := string(<-ev.got); got != "ping" {
		t.Fatalf("echo = %q, want ping", got)
	}
	if rtt := time.Since(start); rtt < 4*delay {
		t.Errorf("round trip %v, want at least 4 x %v", rtt, delay)
	}
}

// TestRate: 64 KiB echoed at 256 KiB/s must cross each direction of the
// link at that rate, so the echo takes at least a quarter of a second.
func TestRate(t *testing.T) {
	const rate, size = 256 << 10, 64 << 10
	d, ev := open(t, sdk.Settings{"rate": "262144"})
	c := echoPair(t, d, ev)
	start := time.Now()
	if err := d.Send(t.Context(), c, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < size; {
		n += len(<-ev.got)
	}
	if el, min := time.Since(start), time.Duration(size)*time.Second/rate; el < min {
		t.Errorf("64 KiB echoed in %v at %d B/s, want at least %v", el, rate, min)
	}
}
