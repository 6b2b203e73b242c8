package sdktest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// testPeerClose: one end sends 256 KiB and closes at once; the other end
// gets all of it, then learns of the peer's orderly close (rule 11): on a
// driver that can half-close, Finished and no Dropped, the socket still
// open until the host closes it (Peer works, CloseSocket is nil, then Send is
// ErrClosed); otherwise exactly one Dropped(ErrPeerClosed), after which Send
// is ErrClosed, Peer fails and CloseSocket is nil or ErrClosed. The closing
// end gets no event (rule 3).
func testPeerClose(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	c, a := e.pair(nil)
	want := pattern(256<<10, 7)
	e.mustSend(c, want)
	e.mustClose(c)
	open := e.awaitPeerEnd(a, "after the peer closed")
	compare(t, "data sent before the peer closed", e.received(a), want)

	if open {
		afterFinished(t, e, a)
	} else {
		afterDrop(t, e, a)
	}
	if st := e.state(c); st.dropped {
		t.Errorf("%v was closed locally, yet got Dropped(%v) (rule 3)", c, st.reason)
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

// afterFinished checks that a socket whose peer finished is still open
// (rule 11): Peer works and CloseSocket is nil, after which Send is
// ErrClosed.
func afterFinished(t *testing.T, e *env, a *conn) {
	t.Helper()
	if _, err := e.peer(a); err != nil {
		t.Errorf("Peer of a socket whose peer finished: %v, want its address (the socket stays open until the host closes it)", err)
	}
	if err := e.closeSocket(a); err != nil {
		t.Errorf("CloseSocket of a socket whose peer finished = %v, want nil (it stays open until the host closes it)", err)
	}
	wantErr(t, "Send after CloseSocket", e.send(a, []byte("x")), sdk.ErrClosed)
}

// testLocalClose: closing one end fires no event for it (rule 3), and the
// other end learns of the peer's orderly close: Finished on a driver that
// can half-close, else exactly one Dropped(ErrPeerClosed). On the closed
// socket Send, Peer and a second CloseSocket fail with ErrClosed. Where the
// surviving end stays open, a Send on it, whose peer is gone, returns nil
// (TCP takes a write before the peer's reset comes back) or fails with
// ErrReset or ErrClosed, never hangs, and CloseSocket of it then is nil (or
// ErrClosed when that Send got it dropped).
func testLocalClose(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	c, a := e.pair(nil)
	e.mustSend(c, []byte("hello"))
	e.awaitBytes(a, 5)
	e.mustClose(a)
	open := e.awaitPeerEnd(c, "after the peer closed")
	if st := e.state(a); st.dropped {
		t.Errorf("%v was closed locally, yet got Dropped(%v) (rule 3)", a, st.reason)
	}
	wantErr(t, "Send after CloseSocket", e.send(a, []byte("x")), sdk.ErrClosed)
	_, err := e.peer(a)
	wantErr(t, "Peer after CloseSocket", err, sdk.ErrClosed)
	wantErr(t, "second CloseSocket", e.closeSocket(a), sdk.ErrClosed)
	if !open {
		afterDrop(t, e, c)
		return
	}
	if err := e.send(c, []byte("x")); err != nil && !gone(err) {
		t.Errorf("Send on %v, whose peer closed = %v, want nil, ErrReset or ErrClosed", c, err)
	}
	if err := e.closeSocket(c); err != nil && !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("CloseSocket of %v, whose peer closed = %v, want nil (or ErrClosed once dropped)", c, err)
	}
}

// testCloseInHandler: a handler closes its own socket from inside
// Received; the call returns nil, no event of that socket follows, and the
// peer learns of the orderly close (Finished, or Dropped(ErrPeerClosed) on
// a driver that cannot half-close).
func testCloseInHandler(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	closed := make(chan error, 1)
	c, _ := e.pair(func(a *conn, data []byte) {
		if bytes.Contains(data, []byte("bye")) {
			closed <- e.closeSocket(a)
		}
	})
	e.mustSend(c, []byte("bye"))
	e.awaitPeerEnd(c, "after the peer closed in its handler")
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
