package loopback_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

func TestConnectHosts(t *testing.T) {
	d, r := open(t, nil)
	if _, err := d.Listen(ctx(t), sdk.ListenRequest{Port: 80}); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"127.0.0.1": "127.0.0.1:80", "LocalHost": "127.0.0.1:80", "::1": "[::1]:80"} {
		c, err := d.Connect(ctx(t), sdk.ConnectRequest{Host: host, Port: 80})
		if err != nil {
			t.Fatalf("Connect(%s): %v", host, err)
		}
		ev := r.next(t)
		p, err := d.Peer(ctx(t), c)
		if err != nil || p.String() != want {
			t.Errorf("Peer of a client connected to %s = %v, %v, want %s", host, p, err, want)
		}
		ap, err := d.Peer(ctx(t), ev.sock)
		if err != nil || ap != ev.peer || ap.Port() < 49152 || ap.Addr() != p.Addr() {
			t.Errorf("Peer of the accepted socket = %v, %v; Accepted said %v: want the client's ephemeral address", ap, err, ev.peer)
		}
	}
	_, err := d.Connect(ctx(t), sdk.ConnectRequest{Host: "192.0.2.1", Port: 80})
	if !errors.Is(err, sdk.ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("Connect to another host = %v, want ErrUnreachable naming the hosts it reaches", err)
	}
}

func TestOpenTwice(t *testing.T) {
	d, _ := open(t, nil)
	if _, err := d.Open(ctx(t), sdk.OpenRequest{Events: &recorder{}}); !errors.Is(err, sdk.ErrBusy) {
		t.Errorf("second Open = %v, want ErrBusy", err)
	}
	d.Close(ctx(t))
	if _, err := d.Open(ctx(t), sdk.OpenRequest{Events: &recorder{}}); !errors.Is(err, sdk.ErrUnsupported) {
		t.Errorf("Open after Close = %v, want ErrUnsupported", err)
	}
	if _, err := loopback.New().Open(ctx(t), sdk.OpenRequest{}); !errors.Is(err, sdk.ErrBadArgument) {
		t.Errorf("Open without Events = %v, want ErrBadArgument", err)
	}
	if err := loopback.New().Close(ctx(t)); !errors.Is(err, sdk.ErrNotOpen) {
		t.Errorf("Close before Open = %v, want ErrNotOpen", err)
	}
}

// closer is an sdk.Events whose Received closes the whole driver from
// inside the handler, and which counts events that start after that Close
// returned.
type closer struct {
	d     *loopback.Driver
	mu    sync.Mutex
	after int // events started after Close returned
	done  bool
	ret   chan error
}

func (c *closer) Accepted(sdk.Socket, sdk.Socket, netip.AddrPort) { c.count() }
func (c *closer) Finished(sdk.Socket)                             { c.count() }
func (c *closer) Dropped(sdk.Socket, error)                       { c.count() }
func (c *closer) Received(sdk.Socket, []byte) error {
	if c.count() {
		return nil
	}
	err := c.d.Close(context.Background())
	c.mu.Lock()
	c.done = true
	c.mu.Unlock()
	c.ret <- err
	return nil
}

// count counts an event; it reports whether Close already returned.
func (c *closer) count() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		c.after++
	}
	return c.done
}

// awaitExits waits for every goroutine in done to exit: after that the
// driver can raise nothing more.
func awaitExits(t *testing.T, done []<-chan struct{}) {
	t.Helper()
	for _, ch := range done {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("a socket goroutine did not exit within 10s")
		}
	}
}

// TestCloseFromInsideHandler: handlers of several sockets call Close at
// once; Close returns (it does not wait for the handler calling it, nor
// for the others running), and no event starts after it returned.
func TestCloseFromInsideHandler(t *testing.T) {
	const conns = 4
	d := loopback.New()
	ev := &closer{d: d, ret: make(chan error, conns)}
	if _, err := d.Open(ctx(t), sdk.OpenRequest{Events: ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Listen(ctx(t), sdk.ListenRequest{Port: 80}); err != nil {
		t.Fatal(err)
	}
	var clients []sdk.Socket
	for range conns {
		c, err := d.Connect(ctx(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: 80})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for _, c := range clients {
		go d.Send(context.Background(), c, []byte("close now"))
	}
	select {
	case err := <-ev.ret:
		if err != nil {
			t.Errorf("Close from inside Received: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close called from inside Received has not returned after 10s: it must not wait for its caller")
	}
	awaitExits(t, d.Goroutines())
	if err := d.Close(ctx(t)); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.after != 0 {
		t.Errorf("%d events started after Close returned", ev.after)
	}
}

// held opens a driver whose first Received blocks until release is closed;
// entered is closed once it runs. It returns the client and accepted socket
// of a connection whose accepted end is inside that Received, with more
// data queued behind it.
func held(t *testing.T) (d *loopback.Driver, r *recorder, c, a sdk.Socket, release chan struct{}) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	d, r = open(t, nil)
	var once sync.Once
	r.hold = func(sdk.Socket, []byte) {
		first := false
		once.Do(func() { first = true; close(entered) })
		if first {
			<-release
		}
	}
	_, c, a = connect(t, d, r, 80)
	if err := d.Send(ctx(t), c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := d.Send(ctx(t), c, []byte("queued")); err != nil {
		t.Fatal(err)
	}
	return d, r, c, a, release
}

// TestCloseSocketDuringHandler: CloseSocket does not wait for a running
// Received of its socket (it may be the caller); that Received finishes,
// and no new event of the socket starts after CloseSocket returned: the
// queued data is not delivered and no Dropped follows. The other end gets
// Finished, and stays open.
func TestCloseSocketDuringHandler(t *testing.T) {
	d, r, c, a, release := held(t)
	exited := d.GoroutineDone(a)
	closed := make(chan error, 1)
	go func() { closed <- d.CloseSocket(context.Background(), a) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("CloseSocket: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("CloseSocket waited for a running Received of its socket: it must not (the handler may be its caller)")
	}
	close(release)
	awaitExits(t, []<-chan struct{}{exited})
	peerFinished := false
	for done := false; !done; {
		select {
		case ev := <-r.ch:
			switch {
			case ev.sock == a && ev.kind == "received" && string(ev.data) == "x":
				// the Received that was running may finish
			case ev.sock == a:
				t.Errorf("event %+v of %v started after CloseSocket returned", ev, a)
			case ev.sock == c && ev.kind == "finished":
				peerFinished = true
			default:
				t.Errorf("unexpected event %+v", ev)
			}
		default:
			done = true
		}
	}
	if !peerFinished {
		if ev := r.next(t); ev.sock != c || ev.kind != "finished" {
			t.Fatalf("event %+v, want Finished of %v", ev, c)
		}
	}
	if _, err := d.Peer(ctx(t), c); err != nil {
		t.Errorf("Peer of the other end after Finished: %v, want it open until its host closes it", err)
	}
}

// TestCloseDuringHandler: Close does not wait for a goroutine inside a
// callback, but does wait for every other goroutine of the driver; the
// goroutine in the callback exits once it returns, and no event starts
// after Close returned.
func TestCloseDuringHandler(t *testing.T) {
	d, r, c, a, release := held(t)
	exited := d.GoroutineDone(a)
	// Another connection, idle: its goroutines are not in an event.
	_, c2, a2 := connect(t, d, r, 81)
	idle := []<-chan struct{}{d.GoroutineDone(c2), d.GoroutineDone(a2)}
	closed := make(chan error, 1)
	go func() { closed <- d.Close(context.Background()) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("Close waited for a goroutine inside Received: it must not (the handler may be its caller)")
	}
	for i, ch := range idle {
		select {
		case <-ch:
		default:
			t.Errorf("Close returned before idle goroutine %d exited: it must wait for goroutines not in an event", i)
		}
	}
	close(release)
	awaitExits(t, append(d.Goroutines(), exited))
	for done := false; !done; {
		select {
		case ev := <-r.ch:
			if ev.sock != a || ev.kind != "received" || string(ev.data) != "x" {
				t.Errorf("event %+v started after Close returned (%v, %v)", ev, c, a)
			}
		default:
			done = true
		}
	}
}
