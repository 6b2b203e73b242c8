package sdktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// testOpenClose: Open returns a sound Info, Close returns, and a second
// Close returns too (nil or ErrNotOpen).
func testOpenClose(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	t.Logf("Info: %+v", e.info)
	if err := e.closeDriver(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := e.closeDriver(); err != nil && !errors.Is(err, sdk.ErrNotOpen) {
		t.Errorf("second Close = %v, want nil or ErrNotOpen (Close is idempotent)", err)
	}
}

// testNotOpen: every call before Open and after Close fails with
// ErrNotOpen (CloseWrite may be ErrUnsupported on a driver that cannot
// half-close).
func testNotOpen(t *testing.T, x *subtest) {
	e := x.unopened()
	notOpen(t, e, "before Open")
	if err := e.closeDriver(); err != nil && !errors.Is(err, sdk.ErrNotOpen) {
		t.Errorf("Close before Open = %v, want nil or ErrNotOpen", err)
	}

	e = x.open(x.s.h.Settings)
	if err := e.closeDriver(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	notOpen(t, e, "after Close")
}

// notOpen checks that each call fails with ErrNotOpen.
func notOpen(t *testing.T, e *env, when string) {
	t.Helper()
	ctx, cancel := e.call()
	defer cancel()
	host := e.x.s.h.SelfHost
	if host == "" {
		host = "127.0.0.1"
	}
	_, err := e.d.Connect(ctx, sdk.ConnectRequest{Host: host, Port: 80})
	wantErr(t, "Connect "+when, err, sdk.ErrNotOpen)
	_, err = e.d.Listen(ctx, sdk.ListenRequest{Port: e.x.s.port(t)})
	wantErr(t, "Listen "+when, err, sdk.ErrNotOpen)
	err = e.d.Send(ctx, 1, []byte("x"))
	wantErr(t, "Send "+when, err, sdk.ErrNotOpen)
	_, err = e.d.Peer(ctx, 1)
	wantErr(t, "Peer "+when, err, sdk.ErrNotOpen)
	err = e.d.CloseSocket(ctx, 1)
	wantErr(t, "CloseSocket "+when, err, sdk.ErrNotOpen)
	// A driver that never half-closes may answer ErrUnsupported first.
	err = e.d.CloseWrite(ctx, 1)
	if !errors.Is(err, sdk.ErrNotOpen) && !(errors.Is(err, sdk.ErrUnsupported) && !e.info.CanHalfClose) {
		t.Errorf("CloseWrite %s = %v, want %s (errors.Is)", when, err, kindName(sdk.ErrNotOpen))
	}
}

// testUnknownSetting: Open rejects a setting it does not know with
// ErrBadArgument.
func testUnknownSetting(t *testing.T, x *subtest) {
	e := x.unopened()
	settings := x.s.h.Settings.Clone()
	settings["sdktest_no_such_setting"] = "1"
	_, err := e.d.Open(e.ctx, e.openRequest(settings))
	wantErr(t, "Open with an unknown setting", err, sdk.ErrBadArgument)
}

// testCloseWithSocketsOpen: Close with listeners and connections open, and
// data in flight, returns, raises no Dropped, ends a blocked Send, and
// every call after it fails with ErrNotOpen.
func testCloseWithSocketsOpen(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.rec.expectNoDrops()
	c := e.echo()
	e.roundTrip(c, []byte("hello"))
	others := 0
	for range 2 {
		if o, err := e.echoErr(); err == nil {
			e.roundTrip(o, []byte("hello"))
			others++
		}
	}
	sent := make(chan error, 1)
	go func() {
		chunk := pattern(16<<10, 3)
		for {
			if err := e.send(c, chunk); err != nil {
				sent <- err
				return
			}
		}
	}()
	e.awaitBytes(c, 5+64<<10) // data is flowing
	if err := e.closeDriver(); err != nil {
		t.Errorf("Close with %d connections open: %v", 1+others, err)
	}
	select {
	case err := <-sent:
		if !gone(err) && !ctxErr(err) {
			t.Errorf("Send running while the driver closed = %v, want ErrNotOpen or ErrClosed", err)
		}
	case <-time.After(x.s.scale(baseWait)):
		t.Fatal("Send running while the driver closed did not return")
	}
	notOpen(t, e, "after Close with sockets open")
}

// canceled returns a context that is already canceled.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
