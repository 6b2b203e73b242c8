package sdktest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// testBadArguments: an empty host, connect ports outside 1-65535 and listen
// ports outside 0-65535 (0 picks a free port) are
// ErrBadArgument; Send, Peer, CloseSocket and CloseWrite on a socket that
// never existed are ErrClosed (CloseWrite may be ErrUnsupported on a driver
// that cannot half-close); Send on a listener is ErrBadArgument and Peer of
// a listener an error.
func testBadArguments(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	ctx, cancel := e.call()
	defer cancel()
	host := x.s.h.SelfHost
	if host == "" {
		host = "127.0.0.1"
	}
	for _, req := range []sdk.ConnectRequest{
		{Host: "", Port: 80}, {Host: host, Port: 0}, {Host: host, Port: -1},
		{Host: host, Port: 65536}, {Host: host, Port: 70000},
	} {
		id, err := e.d.Connect(ctx, req)
		wantErr(t, fmt.Sprintf("Connect(%q, %d)", req.Host, req.Port), err, sdk.ErrBadArgument)
		if err == nil {
			e.rec.claim(id, kindClient, nil, "Connect")
		}
	}
	for _, port := range []int{-1, 65536, 70000} {
		id, err := e.d.Listen(ctx, sdk.ListenRequest{Port: port})
		if !errors.Is(err, sdk.ErrBadArgument) && !(errors.Is(err, sdk.ErrUnsupported) && !e.info.CanListen) {
			t.Errorf("Listen(%d) = %v, want %s", port, err, kindName(sdk.ErrBadArgument))
		}
		if err == nil {
			e.rec.claim(id, kindListener, nil, "Listen")
		}
	}
	for _, id := range []sdk.Socket{0, 1 << 60} {
		err := e.d.Send(ctx, id, []byte("x"))
		if !errors.Is(err, sdk.ErrClosed) && !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("Send(%v), a socket that never existed = %v, want ErrClosed or ErrBadArgument", id, err)
		}
		_, err = e.d.Peer(ctx, id)
		if !errors.Is(err, sdk.ErrClosed) && !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("Peer(%v), a socket that never existed = %v, want ErrClosed or ErrBadArgument", id, err)
		}
		err = e.d.CloseSocket(ctx, id)
		wantErr(t, fmt.Sprintf("CloseSocket(%v), a socket that never existed", id), err, sdk.ErrClosed)
		err = e.d.CloseWrite(ctx, id)
		if !errors.Is(err, sdk.ErrClosed) && !errors.Is(err, sdk.ErrBadArgument) && !(errors.Is(err, sdk.ErrUnsupported) && !e.info.CanHalfClose) {
			t.Errorf("CloseWrite(%v), a socket that never existed = %v, want ErrClosed or ErrBadArgument", id, err)
		}
	}
	if !e.info.CanListen {
		return
	}
	l := e.listen(nil)
	err := e.d.Send(ctx, l.id, []byte("x"))
	wantErr(t, "Send on a listener", err, sdk.ErrBadArgument)
	if ap, err := e.d.Peer(ctx, l.id); err == nil {
		t.Errorf("Peer of a listener = %v, nil: want an error (a listener has no peer)", ap)
	}
}

// testCanceledContext: Connect with a context already canceled, or past
// its deadline, fails with ErrCanceled or ErrTimeout rather than hang or
// succeed.
func testCanceledContext(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	host, port := "127.0.0.1", 9
	switch {
	case e.canSelf():
		host, port = x.s.h.SelfHost, e.portOf(e.listen(nil))
	case x.s.h.EchoServer != nil:
		host, port = x.s.h.EchoServer(t)
	case x.s.h.SelfHost != "":
		host = x.s.h.SelfHost
	}
	past, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for name, ctx := range map[string]context.Context{"canceled": canceled(), "past its deadline": past} {
		id, err := e.d.Connect(ctx, sdk.ConnectRequest{Host: host, Port: port})
		if err == nil {
			e.rec.claim(id, kindClient, nil, "Connect")
			t.Errorf("Connect(%s, %d) with a context %s succeeded: want ErrCanceled or ErrTimeout", host, port, name)
		} else if !ctxErr(err) {
			t.Errorf("Connect(%s, %d) with a context %s = %v, want ErrCanceled or ErrTimeout", host, port, name, err)
		}
	}
}

// testRefused: Connect to a port nothing listens on, or whose listener was
// closed, fails with ErrRefused.
func testRefused(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.needSelf()
	host := x.s.h.SelfHost
	// A port nothing listens on: the harness's next free port, unless its
	// FreePort gives 0 (every listener on a port the driver picks): then
	// the port of a listener that was closed, below, is the case.
	if port := x.s.port(t); port != 0 {
		_, err := e.connect(host, port, nil)
		wantErr(t, fmt.Sprintf("Connect(%s, %d), where nothing listens", host, port), err, sdk.ErrRefused)
	}

	l := e.listen(nil)
	port := e.portOf(l)
	e.mustClose(l)
	_, err := e.connect(host, port, nil)
	wantErr(t, fmt.Sprintf("Connect(%s, %d), whose listener was closed", host, port), err, sdk.ErrRefused)
}
