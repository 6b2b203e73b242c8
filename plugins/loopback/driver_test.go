package loopback_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"ifsock/plugins/loopback"
	"ifsock/sdk"
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
// inside the handler, and which counts events raised after that.
type closer struct {
	d     *loopback.Driver
	mu    sync.Mutex
	after int // events after Close returned
	done  bool
	ret   chan error
}

func (c *closer) Accepted(sdk.Socket, sdk.Socket, netip.AddrPort) { c.count() }
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

func TestCloseFromInsideHandler(t *testing.T) {
	d := loopback.New()
	ev := &closer{d: d, ret: make(chan error, 1)}
	if _, err := d.Open(ctx(t), sdk.OpenRequest{Events: ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Listen(ctx(t), sdk.ListenRequest{Port: 80}); err != nil {
		t.Fatal(err)
	}
	var clients []sdk.Socket
	for range 4 {
		c, err := d.Connect(ctx(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: 80})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	for _, c := range clients {
		go d.Send(context.Background(), c, []byte("close now"))
	}
	if err := <-ev.ret; err != nil {
		t.Errorf("Close from inside Received: %v", err)
	}
	if err := d.Close(ctx(t)); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if ev.after != 0 {
		t.Errorf("%d events after Close returned", ev.after)
	}
}

func TestCloseSocketWaitsForHandler(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	d, r := open(t, nil)
	var once sync.Once
	r.hold = func(sdk.Socket, []byte) {
		once.Do(func() { close(entered) })
		<-release
	}
	_, c, a := connect(t, d, r, 80)
	if err := d.Send(ctx(t), c, []byte("x")); err != nil {
		t.Fatal(err)
	}
	<-entered
	closed := make(chan error)
	go func() { closed <- d.CloseSocket(context.Background(), a) }()
	select {
	case err := <-closed:
		t.Fatalf("CloseSocket returned (%v) while a Received of the socket ran", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	if err := <-closed; err != nil {
		t.Errorf("CloseSocket: %v", err)
	}
}
