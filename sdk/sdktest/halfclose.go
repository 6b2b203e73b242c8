package sdktest

import (
	"io"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// The subtests of rule 11: a peer's orderly close loses nothing, and where
// the driver can half-close (Info.CanHalfClose) the socket whose peer
// finished stays writable until the host closes it, and CloseWrite
// half-closes a socket of the driver. Those that need half-close skip on
// other drivers; Unsupported checks what those drivers answer instead.

// testPeerFinishedStaysWritable: a sends 1 MiB then CloseWrite; b receives
// every byte, then Finished (no Dropped); b, still writable, replies with
// 256 KiB, which a, half-closed, receives whole (it still receives). Then b
// closes: on a that is the peer's FIN too, so a gets Finished (not a
// Dropped), stays open, and CloseSocket of it is nil.
func testPeerFinishedStaysWritable(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.needHalfClose()
	a, b := e.pair(nil)
	want := pattern(x.s.bulk(1<<20), 21)
	e.mustSend(a, want)
	e.mustCloseWrite(a)
	e.awaitFinished(b)
	compare(t, "data sent before CloseWrite", e.received(b), want)

	reply := pattern(x.s.bulk(256<<10), 22)
	e.mustSend(b, reply)
	compare(t, "reply sent after the peer finished, to a half-closed socket", e.awaitBytes(a, len(reply)), reply)
	e.mustClose(b)
	e.awaitFinished(a)
	compare(t, "what the half-closed socket received before its peer closed", e.received(a), reply)
	if err := e.closeSocket(a); err != nil {
		t.Errorf("CloseSocket of a half-closed socket whose peer then closed = %v, want nil (it stays open until the host closes it)", err)
	}
	if st := e.state(b); st.dropped {
		t.Errorf("%v got Dropped(%v) after its peer finished: a socket whose peer finished stays open until the host closes it", b, st.reason)
	}
}

// testEchoUntilFinished is the shape of an echo server at a client's
// half-close (rule 11, and CloseSocket delivering what was sent): the
// server end echoes from inside Received and closes itself from inside
// Finished; the client sends 4 MiB in 64 KiB Sends, then CloseWrite, and
// gets the whole stream back byte-exact, then Finished. Nothing sent before
// the FIN, or echoed after it, is lost; Send from inside Received on a
// socket whose peer is half-closed never fails; and CloseSocket from inside
// Finished returns (a driver must not wait for the callback that calls it).
func testEchoUntilFinished(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.needHalfClose()
	closed := make(chan error, 1)
	c, a := e.pair(func(a *conn, data []byte) {
		if err := e.send(a, data); err != nil && e.ctx.Err() == nil {
			e.x.report("echo: Send(%v, %d bytes) from inside Received, its peer half-closed or about to: %v", a, len(data), err)
		}
	})
	e.setFinishedHandler(a, func(a *conn) { closed <- e.closeSocket(a) })

	const chunk = 64 << 10
	want := pattern(x.s.bulk(4<<20), 23)
	for off := 0; off < len(want); off += chunk {
		e.mustSend(c, want[off:min(off+chunk, len(want))])
	}
	e.mustCloseWrite(c)
	e.awaitFinished(c)
	compare(t, "echo of a stream whose sender half-closed", e.received(c), want)
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("CloseSocket from inside Finished: %v", err)
		}
	case <-time.After(x.s.scale(5 * time.Second)):
		t.Error("CloseSocket called from inside Finished has not returned after 5s: a driver must not wait for the callback that calls it")
	}
	if err := e.closeSocket(c); err != nil {
		t.Errorf("CloseSocket of the client after the echo closed = %v, want nil", err)
	}
}

// testSendAfterCloseWrite: after CloseWrite, Send on that socket is
// ErrClosed (nothing of it reaches the peer, whose Finished follows the
// data sent before) and a second CloseWrite is ErrClosed, while the socket
// still receives what its peer sends; CloseWrite on a listener is
// ErrBadArgument, and on a closed socket ErrClosed.
func testSendAfterCloseWrite(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.needHalfClose()
	c, a := e.pair(nil)
	e.mustSend(c, []byte("before"))
	e.mustCloseWrite(c)
	wantErr(t, "Send after CloseWrite", e.send(c, []byte("after")), sdk.ErrClosed)
	wantErr(t, "second CloseWrite", e.closeWrite(c), sdk.ErrClosed)
	e.awaitFinished(a)
	compare(t, "data the peer received before Finished", e.received(a), []byte("before"))

	msg := []byte("to a half-closed socket")
	e.mustSend(a, msg)
	compare(t, "data sent to a half-closed socket", e.awaitBytes(c, len(msg)), msg)

	wantErr(t, "CloseWrite on a listener", e.closeWrite(e.pairL), sdk.ErrBadArgument)
	e.mustClose(c)
	wantErr(t, "CloseWrite after CloseSocket", e.closeWrite(c), sdk.ErrClosed)
	e.mustClose(a)
}

// testCloseWriteUnsupported: a driver that cannot half-close
// (Info.CanHalfClose false) answers CloseWrite with ErrUnsupported and
// leaves the socket as it was: it still sends and receives, and no event
// comes of the call.
func testCloseWriteUnsupported(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	if e.info.CanHalfClose {
		t.Skip("the driver can half-close (Info.CanHalfClose is true): the other HalfClose subtests apply")
	}
	c := e.echo()
	e.roundTrip(c, []byte("before CloseWrite"))
	wantErr(t, "CloseWrite on a driver that cannot half-close", e.closeWrite(c), sdk.ErrUnsupported)
	e.roundTrip(c, []byte("after CloseWrite"))
	if st := e.state(c); st.dropped || st.finished {
		t.Errorf("an unsupported CloseWrite ended %v: want the socket left as it was", c)
	}
	e.mustClose(c)
}

// testCloseDeliversSent: CloseSocket right after the last Send returned
// still delivers every byte of the Sends that returned, in order, before the
// close (as TCP's close does): one end sends 1 MiB in 16 KiB Sends and
// closes at once; the other end receives every byte, then Finished (then it
// is still open) or, on a driver that cannot half-close,
// Dropped(ErrPeerClosed).
func testCloseDeliversSent(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	c, a := e.pair(nil)
	const chunk = 16 << 10
	want := pattern(x.s.bulk(1<<20), 24)
	for off := 0; off < len(want); off += chunk {
		e.mustSend(c, want[off:min(off+chunk, len(want))])
	}
	e.mustClose(c)
	open := e.awaitPeerEnd(a, "after the peer closed")
	compare(t, "data sent before CloseSocket", e.received(a), want)
	if open {
		e.mustClose(a)
	}
}

// testHalfCloseFromOutside: a connection dialled from outside writes
// 256 KiB and half-closes (its CloseWrite, a TCP FIN); the accepted socket
// gets every byte, then Finished, replies from inside its Finished handler
// (it is still writable) and closes there; the outside reads the whole
// reply, then io.EOF.
func testHalfCloseFromOutside(t *testing.T, x *subtest) {
	e := x.openForDial()
	e.needHalfClose()
	l := e.listen(nil)
	reply := pattern(x.s.bulk(256<<10), 26)
	closed := make(chan error, 1)
	e.setFinishedHandler(l, func(a *conn) {
		if err := e.send(a, reply); err != nil {
			e.x.report("Send(%v) from inside Finished: %v (a socket whose peer finished stays writable)", a, err)
		}
		closed <- e.closeSocket(a)
	})
	nc := e.dial(e.portOf(l))
	cw, ok := nc.(interface{ CloseWrite() error })
	if !ok {
		t.Skipf("Harness.Dial returned a %T, which has no CloseWrite to half-close with", nc)
	}
	a := e.accept(l)

	in := pattern(x.s.bulk(256<<10), 25)
	go func() {
		if _, err := nc.Write(in); err != nil {
			e.x.report("writing from outside: %v", err)
			return
		}
		if err := cw.CloseWrite(); err != nil {
			e.x.report("CloseWrite outside: %v", err)
		}
	}()
	_ = nc.SetReadDeadline(time.Now().Add(x.s.scale(baseWait)))
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Errorf("reading outside after its CloseWrite: %v, want the reply then io.EOF", err)
	}
	compare(t, "reply sent from inside Finished", got, reply)
	e.awaitFinished(a)
	compare(t, "data written from outside before its CloseWrite", e.received(a), in)
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("CloseSocket from inside Finished: %v", err)
		}
	case <-time.After(x.s.scale(5 * time.Second)):
		t.Error("CloseSocket called from inside Finished has not returned after 5s: a driver must not wait for the callback that calls it")
	}
}

// testHalfCloseToOutside: an accepted socket sends 256 KiB to a connection
// dialled from outside, then CloseWrite; the outside reads every byte, then
// io.EOF, and can still write: the socket receives what it writes. When the
// outside then closes, the socket gets Finished, and CloseSocket of it is
// nil.
func testHalfCloseToOutside(t *testing.T, x *subtest) {
	e := x.openForDial()
	e.needHalfClose()
	l := e.listen(nil)
	nc := e.dial(e.portOf(l))
	a := e.accept(l)

	out := pattern(x.s.bulk(256<<10), 27)
	go func() {
		if err := e.send(a, out); err != nil {
			e.x.report("Send(%v) to the outside: %v", a, err)
		} else if err := e.closeWrite(a); err != nil {
			e.x.report("CloseWrite(%v): %v", a, err)
		}
	}()
	_ = nc.SetReadDeadline(time.Now().Add(x.s.scale(baseWait)))
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Errorf("reading outside from a socket that half-closed: %v, want its data then io.EOF", err)
	}
	compare(t, "data sent before CloseWrite", got, out)

	in := pattern(x.s.bulk(64<<10), 28)
	go func() {
		if _, err := nc.Write(in); err != nil {
			e.x.report("writing from outside to a socket that half-closed: %v (it still receives)", err)
		}
	}()
	compare(t, "data written from outside to a half-closed socket", e.awaitBytes(a, len(in)), in)
	if err := nc.Close(); err != nil {
		t.Fatalf("closing the outside end: %v", err)
	}
	e.awaitFinished(a)
	if err := e.closeSocket(a); err != nil {
		t.Errorf("CloseSocket of a half-closed socket whose peer then closed = %v, want nil", err)
	}
}

// testHalfCloseEchoServer: a connection to the harness's echo server (which
// echoes until it reads the end, then closes) sends 1 MiB, then
// CloseWrite; it gets the whole echo back, then Finished, and CloseSocket
// of it is nil.
func testHalfCloseEchoServer(t *testing.T, x *subtest) {
	if x.s.h.EchoServer == nil {
		t.Skip("Harness.EchoServer is nil")
	}
	e := x.open(x.s.h.Settings)
	e.needHalfClose()
	host, port := x.s.h.EchoServer(t)
	c := e.mustConnect(host, port, nil)
	want := pattern(x.s.bulk(1<<20), 29)
	e.mustSend(c, want)
	e.mustCloseWrite(c)
	e.awaitFinished(c)
	compare(t, "echo of 1 MiB sent before CloseWrite", e.received(c), want)
	if err := e.closeSocket(c); err != nil {
		t.Errorf("CloseSocket after the echo server closed = %v, want nil", err)
	}
}
