package loopback_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

func TestRefuse(t *testing.T) {
	d, _ := open(t, sdk.Settings{loopback.SettingRefuse: "true"})
	if _, err := d.Listen(ctx(t), sdk.ListenRequest{Port: 80}); err != nil {
		t.Fatal(err)
	}
	_, err := d.Connect(ctx(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: 80})
	if !errors.Is(err, sdk.ErrRefused) {
		t.Errorf("Connect with refuse set = %v, want ErrRefused", err)
	}
}

func TestDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	d, r := open(t, sdk.Settings{loopback.SettingDelay: delay.String()})
	_, c, _ := connect(t, d, r, 80)
	start := time.Now()
	if err := d.Send(ctx(t), c, []byte("late")); err != nil {
		t.Fatal(err)
	}
	ev := r.next(t)
	if elapsed := time.Since(start); ev.kind != "received" || elapsed < delay {
		t.Errorf("event %+v after %v, want data after at least %v", ev, elapsed, delay)
	}
}

func TestDropAfter(t *testing.T) {
	d, r := open(t, sdk.Settings{loopback.SettingDropAfter: "10"})
	_, c, a := connect(t, d, r, 80)
	err := d.Send(ctx(t), c, []byte("0123456789abcdef"))
	if !errors.Is(err, sdk.ErrReset) {
		t.Errorf("Send past drop_after = %v, want ErrReset", err)
	}
	var got []byte
	drops := map[sdk.Socket]error{}
	for len(drops) < 2 {
		ev := r.next(t)
		switch {
		case ev.kind == "received" && ev.sock == a:
			if drops[a] != nil {
				t.Errorf("data after Dropped on %v", a)
			}
			got = append(got, ev.data...)
		case ev.kind == "dropped":
			drops[ev.sock] = ev.reason
		default:
			t.Errorf("unexpected event %+v", ev)
		}
	}
	if string(got) != "0123456789" {
		t.Errorf("received %q before the drop, want the first 10 bytes", got)
	}
	for _, s := range []sdk.Socket{c, a} {
		if !errors.Is(drops[s], sdk.ErrReset) {
			t.Errorf("%v dropped with %v, want ErrReset", s, drops[s])
		}
	}
	if err := d.Send(ctx(t), c, []byte("x")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Send after the drop = %v, want ErrClosed", err)
	}
}

func TestBufferBoundsSend(t *testing.T) {
	release := make(chan struct{})
	d, r := open(t, sdk.Settings{loopback.SettingBuffer: "16"})
	r.hold = func(sdk.Socket, []byte) { <-release }
	_, c, a := connect(t, d, r, 80)
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	want := bytes.Repeat([]byte("x"), 100)
	err := d.Send(short, c, want)
	if !errors.Is(err, sdk.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send of 100 bytes into a 16-byte window held by its handler = %v, want ErrTimeout", err)
	}
	close(release)
	var got int
	for got < 16 {
		ev := r.next(t)
		if ev.kind != "received" || ev.sock != a {
			t.Fatalf("unexpected event %+v", ev)
		}
		got += len(ev.data)
	}
	if got != 16 {
		t.Errorf("received %d bytes, want the 16 the window took", got)
	}
}

func TestDropSocket(t *testing.T) {
	d, r := open(t, nil)
	l, c, a := connect(t, d, r, 80)
	boom := sdk.Errorf(sdk.ErrDevice, "test fault")
	if err := d.DropSocket(a, boom); err != nil {
		t.Fatal(err)
	}
	drops := map[sdk.Socket]error{}
	for len(drops) < 2 {
		ev := r.next(t)
		if ev.kind != "dropped" {
			t.Fatalf("unexpected event %+v", ev)
		}
		drops[ev.sock] = ev.reason
	}
	if drops[a] != boom {
		t.Errorf("%v dropped with %v, want the injected error", a, drops[a])
	}
	if !errors.Is(drops[c], sdk.ErrReset) {
		t.Errorf("the other end dropped with %v, want ErrReset", drops[c])
	}
	if err := d.DropSocket(a, nil); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("DropSocket of a dropped socket = %v, want ErrClosed", err)
	}

	// A dropped listener leaves its accepted sockets alone.
	c2, err := d.Connect(ctx(t), sdk.ConnectRequest{Host: "localhost", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	a2 := r.next(t).sock
	if err := d.DropSocket(l, nil); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t); ev.kind != "dropped" || ev.sock != l || !errors.Is(ev.reason, sdk.ErrReset) {
		t.Errorf("event %+v, want Dropped(ErrReset) of the listener", ev)
	}
	if err := d.Send(ctx(t), c2, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t); ev.kind != "received" || ev.sock != a2 {
		t.Errorf("event %+v, want data on the accepted socket", ev)
	}
}
