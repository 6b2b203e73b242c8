package loopback_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// event is one call of sdk.Events, as the tests' recorder saw it.
type event struct {
	kind     string // "accepted", "received", "finished", "dropped"
	listener sdk.Socket
	sock     sdk.Socket
	peer     netip.AddrPort
	data     []byte
	reason   error
}

// recorder is a plain sdk.Events for the unit tests: every event goes to a
// channel; hold, when set, runs inside Received first, and finish inside
// Finished.
type recorder struct {
	ch     chan event
	hold   func(sock sdk.Socket, data []byte)
	finish func(sock sdk.Socket)
}

func (r *recorder) Accepted(l, s sdk.Socket, p netip.AddrPort) {
	r.ch <- event{kind: "accepted", listener: l, sock: s, peer: p}
}

func (r *recorder) Received(s sdk.Socket, data []byte) error {
	if r.hold != nil {
		r.hold(s, data)
	}
	r.ch <- event{kind: "received", sock: s, data: data}
	return nil
}

func (r *recorder) Finished(s sdk.Socket) {
	if r.finish != nil {
		r.finish(s)
	}
	r.ch <- event{kind: "finished", sock: s}
}

func (r *recorder) Dropped(s sdk.Socket, reason error) {
	r.ch <- event{kind: "dropped", sock: s, reason: reason}
}

// next returns the next event, failing t after a generous wait.
func (r *recorder) next(t *testing.T) event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return event{}
}

// open opens a driver with settings, closed at the end of the test.
func open(t *testing.T, settings sdk.Settings) (*loopback.Driver, *recorder) {
	t.Helper()
	d := loopback.New()
	r := &recorder{ch: make(chan event, 1024)}
	if _, err := d.Open(ctx(t), sdk.OpenRequest{Interface: "lo0", Settings: settings, Events: r}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d, r
}

// ctx returns a context that ends with the test, or after 10s.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// connect listens on port and connects to it, returning the listener, the
// client and the accepted socket.
func connect(t *testing.T, d *loopback.Driver, r *recorder, port int) (l, c, a sdk.Socket) {
	t.Helper()
	l, err := d.Listen(ctx(t), sdk.ListenRequest{Port: port})
	if err != nil {
		t.Fatalf("Listen(%d): %v", port, err)
	}
	c, err = d.Connect(ctx(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
	if err != nil {
		t.Fatalf("Connect(%d): %v", port, err)
	}
	ev := r.next(t)
	if ev.kind != "accepted" || ev.listener != l {
		t.Fatalf("first event %+v, want Accepted from %v", ev, l)
	}
	return l, c, ev.sock
}
