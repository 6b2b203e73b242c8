package sdktest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"ifsock/sdk"
)

// testPeerClose: one end sends 256 KiB and closes at once; the other end
// gets all of it, then exactly one Dropped(ErrPeerClosed); the closing end
// gets no Dropped. Afterwards Send on the dropped socket is ErrClosed, Peer
// fails and CloseSocket is nil or ErrClosed.
func testPeerClose(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	c, a := e.pair(nil)
	want := pattern(256<<10, 7)
	e.mustSend(c, want)
	e.mustClose(c)
	reason := e.awaitDrop(a)
	wantErr(t, "Dropped reason after the peer closed", reason, sdk.ErrPeerClosed)
	e.rec.mu.Lock()
	got := a.data()
	e.rec.mu.Unlock()
	compare(t, "data sent before the peer closed", got, want)

	afterDrop(t, e, a)
	if _, dropped, reason := e.state(c); dropped {
		t.Errorf("%v was closed locally, yet got Dropped(%v) (rule 3)", c, reason)
	}
}

// afterDrop checks the calls on a socket that was dropped.
func afterDrop(t *testing.T, e *env, a *conn) {
	t.Helper()
	wantErr(t, "Send on a dropped socket", e.send(a, []byte("x")), sdk.ErrClosed)
	if ap, err := e.peer(a); err == nil {
		t.Errorf("Peer of a dropped socket = %v, nil: want ErrClosed", ap)
	}
	if err := e.closeSocket(a); err != nil && !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("CloseSocket of a dropped socket = %v, want nil or ErrClosed", err)
	}
}

// testLocalClose: closing one end fires no Dropped for it, and exactly one
// Dropped(ErrPeerClosed) at the other end. On the closed socket Send, Peer
// and a second CloseSocket fail with ErrClosed.
func testLocalClose(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	c, a := e.pair(nil)
	e.mustSend(c, []byte("hello"))
	e.awaitBytes(a, 5)
	e.mustClose(a)
	wantErr(t, "Dropped reason after the peer closed", e.awaitDrop(c), sdk.ErrPeerClosed)
	if _, dropped, reason := e.state(a); dropped {
		t.Errorf("%v was closed locally, yet got Dropped(%v) (rule 3)", a, reason)
	}
	wantErr(t, "Send after CloseSocket", e.send(a, []byte("x")), sdk.ErrClosed)
	_, err := e.peer(a)
	wantErr(t, "Peer after CloseSocket", err, sdk.ErrClosed)
	wantErr(t, "second CloseSocket", e.closeSocket(a), sdk.ErrClosed)
	afterDrop(t, e, c)
}

// testCloseInHandler: a handler closes its own socket from inside
// Received; the call returns nil, no event of that socket follows, and the
// peer gets Dropped(ErrPeerClosed).
func testCloseInHandler(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	closed := make(chan error, 1)
	c, _ := e.pair(func(a *conn, data []byte) {
		if bytes.Contains(data, []byte("bye")) {
			closed <- e.closeSocket(a)
		}
	})
	e.mustSend(c, []byte("bye"))
	wantErr(t, "Dropped reason after the peer closed in its handler", e.awaitDrop(c), sdk.ErrPeerClosed)
	// The peer may see the close before the handler's CloseSocket returns
	// (over RPC the drop can overtake the call's answer): wait for it, but
	// a CloseSocket that never returns from inside a handler is a deadlock.
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("CloseSocket from inside Received: %v", err)
		}
	case <-time.After(x.s.scale(5 * time.Second)):
		t.Error("CloseSocket called from inside Received has not returned after 5s: a driver must not wait for the callback that calls it")
	}
}
