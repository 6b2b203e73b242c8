package loopback_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// collect reads events until Finished of s, failing t on any event that is
// not data of s or its Finished (other, when set, is called with those
// instead). It returns the data s received.
func collect(t *testing.T, r *recorder, s sdk.Socket, other func(event)) []byte {
	t.Helper()
	var got []byte
	for {
		ev := r.next(t)
		switch {
		case ev.sock == s && ev.kind == "received":
			got = append(got, ev.data...)
		case ev.sock == s && ev.kind == "finished":
			return got
		case other != nil:
			other(ev)
		default:
			t.Fatalf("unexpected event %+v while waiting for the data and Finished of %v", ev, s)
		}
	}
}

// TestHalfCloseEcho is design rule 11 on an echo: the client sends 4 MiB in
// 64 KiB Sends, then CloseWrite; the accepted end echoes from inside
// Received and closes from inside Finished. The client gets all 4 MiB back
// byte-exact, then Finished; the accepted end gets no Dropped.
func TestHalfCloseEcho(t *testing.T) {
	const total, chunk = 4 << 20, 64 << 10
	d, r := open(t, nil)
	var a sdk.Socket
	echoErrs := make(chan error, 2)
	r.hold = func(s sdk.Socket, data []byte) {
		if s == a {
			if err := d.Send(context.Background(), s, data); err != nil {
				echoErrs <- err
			}
		}
	}
	r.finish = func(s sdk.Socket) {
		if s == a {
			if err := d.CloseSocket(context.Background(), s); err != nil {
				echoErrs <- err
			}
		}
	}
	_, c, acc := connect(t, d, r, 7)
	a = acc // set before any data: the hooks run on a's goroutine after this
	msg := make([]byte, total)
	rand.NewChaCha8([32]byte{7}).Read(msg)
	sent := make(chan error, 1)
	go func() {
		for off := 0; off < total; off += chunk {
			if err := d.Send(ctx(t), c, msg[off:off+chunk]); err != nil {
				sent <- err
				return
			}
		}
		sent <- d.CloseWrite(ctx(t), c)
	}()
	var atA int
	got := collect(t, r, c, func(ev event) {
		switch {
		case ev.sock == a && ev.kind == "received":
			atA += len(ev.data)
		case ev.sock == a && ev.kind == "finished":
			if atA != total {
				t.Errorf("Finished of %v after %d bytes, want %d", a, atA, total)
			}
		default:
			t.Errorf("unexpected event %+v", ev)
		}
	})
	if err := <-sent; err != nil {
		t.Fatalf("client: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("the client got %d bytes back, want %d byte-exact", len(got), total)
	}
	close(echoErrs)
	for err := range echoErrs {
		t.Errorf("echo: %v", err)
	}
	if err := d.CloseSocket(ctx(t), c); err != nil {
		t.Errorf("CloseSocket of the client after its peer closed: %v, want nil", err)
	}
}

// TestCloseWrite: after CloseWrite the peer gets the data sent before, then
// Finished, and can still send to us; Send and a second CloseWrite are
// ErrClosed. When the peer then closes, the half-closed socket gets Finished
// too and stays open until its CloseSocket. A listener cannot be
// half-closed; an unknown or closed socket is ErrClosed.
func TestCloseWrite(t *testing.T) {
	d, r := open(t, nil)
	other := loopback.New()
	info, err := other.Open(ctx(t), sdk.OpenRequest{Events: r})
	if err != nil || !info.CanHalfClose {
		t.Errorf("Info.CanHalfClose = %v (%v), want true", info.CanHalfClose, err)
	}
	other.Close(ctx(t))
	l, c, a := connect(t, d, r, 80)
	if err := d.Send(ctx(t), c, []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := d.CloseWrite(ctx(t), c); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	if err := d.Send(ctx(t), c, []byte("after")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Send after CloseWrite = %v, want ErrClosed", err)
	}
	if err := d.CloseWrite(ctx(t), c); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("second CloseWrite = %v, want ErrClosed", err)
	}
	if got := collect(t, r, a, nil); string(got) != "before" {
		t.Errorf("data before Finished = %q, want %q", got, "before")
	}
	if err := d.Send(ctx(t), a, []byte("reply")); err != nil {
		t.Fatalf("Send to a half-closed socket: %v", err)
	}
	if ev := r.next(t); ev.kind != "received" || ev.sock != c || string(ev.data) != "reply" {
		t.Errorf("event %+v, want the reply on the half-closed %v", ev, c)
	}
	if err := d.CloseSocket(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, r, c, nil); len(got) != 0 {
		t.Errorf("data %q before Finished of %v", got, c)
	}
	if _, err := d.Peer(ctx(t), c); err != nil {
		t.Errorf("Peer of a socket finished both ways: %v, want it open until CloseSocket", err)
	}
	if err := d.CloseSocket(ctx(t), c); err != nil {
		t.Errorf("CloseSocket: %v", err)
	}
	if err := d.CloseWrite(ctx(t), c); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("CloseWrite after CloseSocket = %v, want ErrClosed", err)
	}
	if err := d.CloseWrite(ctx(t), l); !errors.Is(err, sdk.ErrBadArgument) {
		t.Errorf("CloseWrite on a listener = %v, want ErrBadArgument", err)
	}
	if err := d.CloseWrite(ctx(t), 12345); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("CloseWrite on an unknown socket = %v, want ErrClosed", err)
	}
	select {
	case ev := <-r.ch:
		t.Errorf("unexpected event %+v", ev)
	default:
	}
}

// TestCloseSocketFinishesPeer: CloseSocket right after the last Send
// returned delivers every byte, then the other end gets Finished (not
// Dropped) and stays open; its Send then fails with ErrReset (nothing can
// reach a closed socket) and it is dropped with ErrReset, after its
// Finished.
func TestCloseSocketFinishesPeer(t *testing.T) {
	d, r := open(t, nil)
	_, c, a := connect(t, d, r, 80)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, 4 windows
	sent := make(chan error, 1)
	go func() {
		if err := d.Send(ctx(t), c, msg); err != nil {
			sent <- err
			return
		}
		sent <- d.CloseSocket(ctx(t), c)
	}()
	got := collect(t, r, a, nil)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("received %d bytes before Finished, want %d", len(got), len(msg))
	}
	if _, err := d.Peer(ctx(t), a); err != nil {
		t.Errorf("Peer after Finished: %v, want the socket open", err)
	}
	err := d.Send(ctx(t), a, []byte("anyone there?"))
	if !errors.Is(err, sdk.ErrReset) || !strings.Contains(err.Error(), "the peer closed the connection") {
		t.Errorf("Send to a closed peer = %v, want ErrReset saying the peer closed", err)
	}
	if ev := r.next(t); ev.kind != "dropped" || ev.sock != a || !errors.Is(ev.reason, sdk.ErrReset) {
		t.Errorf("event %+v, want Dropped(ErrReset) of %v", ev, a)
	}
	if err := d.Send(ctx(t), a, []byte("x")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Send after the drop = %v, want ErrClosed", err)
	}
	if err := d.CloseSocket(ctx(t), a); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("CloseSocket after the drop = %v, want ErrClosed", err)
	}
}

// TestCloseSocketWakesPeerSend: a Send blocked on the full window of a
// socket that is then closed fails with ErrReset; what it had queued is
// discarded, and its socket gets Finished, then Dropped(ErrReset).
func TestCloseSocketWakesPeerSend(t *testing.T) {
	release := make(chan struct{})
	d, r := open(t, sdk.Settings{loopback.SettingBuffer: "16"})
	r.hold = func(sdk.Socket, []byte) { <-release }
	_, c, a := connect(t, d, r, 80)
	sent := make(chan error, 1)
	go func() { sent <- d.Send(ctx(t), c, make([]byte, 100)) }()
	time.Sleep(20 * time.Millisecond) // let it block (any interleaving passes)
	if err := d.CloseSocket(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-sent; !errors.Is(err, sdk.ErrReset) {
		t.Errorf("Send blocked on a socket that closed = %v, want ErrReset", err)
	}
	var kinds []string
	for len(kinds) == 0 || kinds[len(kinds)-1] != "dropped" {
		ev := r.next(t)
		if ev.sock == a {
			continue // the Received running at the close may finish
		}
		if ev.sock != c {
			t.Fatalf("unexpected event %+v", ev)
		}
		kinds = append(kinds, ev.kind)
	}
	if strings.Join(kinds, ",") != "finished,dropped" {
		t.Errorf("events of %v: %v, want finished,dropped", c, kinds)
	}
}

// TestCloseWriteWaitsForSend: CloseWrite takes its turn after a Send still
// running on the socket (honouring its ctx meanwhile), so the peer's
// Finished comes after every byte of that Send.
func TestCloseWriteWaitsForSend(t *testing.T) {
	release := make(chan struct{})
	d, r := open(t, sdk.Settings{loopback.SettingBuffer: "16"})
	r.hold = func(sdk.Socket, []byte) { <-release }
	_, c, a := connect(t, d, r, 80)
	want := bytes.Repeat([]byte("x"), 100)
	sent := make(chan error, 1)
	go func() { sent <- d.Send(ctx(t), c, want) }()
	time.Sleep(20 * time.Millisecond) // let it block (any interleaving passes)
	short, cancel := context.WithTimeout(ctx(t), 50*time.Millisecond)
	defer cancel()
	if err := d.CloseWrite(short, c); !errors.Is(err, sdk.ErrTimeout) {
		t.Errorf("CloseWrite behind a blocked Send, past its ctx = %v, want ErrTimeout", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- d.CloseWrite(ctx(t), c) }()
	close(release)
	if got := collect(t, r, a, nil); !bytes.Equal(got, want) {
		t.Errorf("received %q before Finished, want the whole Send", got)
	}
	if err := <-sent; err != nil {
		t.Errorf("Send: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("CloseWrite: %v", err)
	}
}

// TestResetAfterFinished: a socket whose peer finished can still be reset:
// it gets Dropped(ErrReset) after its Finished, and the faults still drop
// both ends.
func TestResetAfterFinished(t *testing.T) {
	d, r := open(t, nil)
	_, c, a := connect(t, d, r, 80)
	if err := d.CloseWrite(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	collect(t, r, a, nil)
	boom := sdk.Errorf(sdk.ErrDevice, "test fault")
	if err := d.DropSocket(c, boom); err != nil {
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
	if drops[c] != boom || !errors.Is(drops[a], sdk.ErrReset) {
		t.Errorf("drops %v, want the fault on %v and ErrReset on %v", drops, c, a)
	}
}

// TestCloseWithFinishedSockets: the goroutine of a socket whose peer
// finished stays until the socket is closed, and Close waits for it
// without raising anything.
func TestCloseWithFinishedSockets(t *testing.T) {
	d := loopback.New()
	r := &recorder{ch: make(chan event, 1024)}
	if _, err := d.Open(ctx(t), sdk.OpenRequest{Events: r}); err != nil {
		t.Fatal(err)
	}
	_, c, a := connect(t, d, r, 80)
	if err := d.CloseWrite(ctx(t), c); err != nil {
		t.Fatal(err)
	}
	collect(t, r, a, nil)
	select {
	case <-d.GoroutineDone(a):
		t.Fatalf("the goroutine of %v exited after Finished: it must stay for a later Dropped", a)
	default:
	}
	running := d.Goroutines()
	if err := d.Close(ctx(t)); err != nil {
		t.Fatalf("Close: %v", err)
	}
	awaitExits(t, running)
	select {
	case ev := <-r.ch:
		t.Errorf("event %+v after Close", ev)
	default:
	}
}
