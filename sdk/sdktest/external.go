package sdktest

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// testEchoServer: a connection to the harness's echo server outside the
// driver carries 64 KiB and 20 round trips, its Peer is the server's
// address, and closing it fires no Dropped.
func testEchoServer(t *testing.T, x *subtest) {
	if x.s.h.EchoServer == nil {
		t.Skip("Harness.EchoServer is nil")
	}
	e := x.open(x.s.h.Settings)
	host, port := x.s.h.EchoServer(t)
	c := e.mustConnect(host, port, nil)
	ap, err := e.peer(c)
	if err != nil {
		t.Errorf("Peer: %v", err)
	} else if ip, err := netip.ParseAddr(host); err == nil && ap != netip.AddrPortFrom(ip, uint16(port)) {
		t.Errorf("Peer = %v, want %v", ap, netip.AddrPortFrom(ip, uint16(port)))
	}
	want := pattern(64<<10, 11)
	e.mustSend(c, want)
	compare(t, "echo of 64 KiB", e.awaitBytes(c, len(want)), want)
	for i := range 20 {
		e.roundTrip(c, pattern(64, uint64(i)))
	}
	e.mustClose(c)
}

// testDial: a connection dialled from outside to a listener is announced by
// Accepted naming that listener, with the dialler's address as its peer;
// data flows both ways byte-exact; the outside closing gives Finished (a
// driver that can half-close; the socket stays open until closed) or exactly
// one Dropped(ErrPeerClosed); closing the accepted socket gives the outside
// the data sent before, then io.EOF.
func testDial(t *testing.T, x *subtest) {
	e := x.openForDial()
	l := e.listen(nil)
	port := e.portOf(l)
	nc := e.dial(port)
	a := e.accept(l)

	ap, err := e.peer(a)
	if err != nil {
		t.Errorf("Peer of the accepted socket: %v", err)
	} else if local, err := netip.ParseAddrPort(nc.LocalAddr().String()); err == nil &&
		netip.AddrPortFrom(local.Addr().Unmap(), local.Port()) != netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) {
		t.Errorf("Peer of the accepted socket = %v, but the dialler's address is %v", ap, local)
	}

	in := pattern(64<<10, 12)
	go func() {
		if _, err := nc.Write(in); err != nil {
			e.x.report("writing from outside: %v", err)
		}
	}()
	compare(t, "64 KiB written from outside", e.awaitBytes(a, len(in)), in)

	out := pattern(64<<10, 13)
	go func() {
		if err := e.send(a, out); err != nil {
			e.x.report("Send to the outside: %v", err)
		}
	}()
	got := make([]byte, len(out))
	_ = nc.SetReadDeadline(time.Now().Add(x.s.scale(baseWait)))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatalf("reading 64 KiB outside: %v", err)
	}
	compare(t, "64 KiB sent to the outside", got, out)

	if err := nc.Close(); err != nil {
		t.Fatalf("closing the outside end: %v", err)
	}
	if e.awaitPeerEnd(a, "after the outside closed") {
		e.mustClose(a) // it stays open until the host closes it (rule 11)
	}

	nc2 := e.dial(port)
	a2 := e.accept(l)
	e.mustSend(a2, []byte("bye"))
	e.mustClose(a2)
	_ = nc2.SetReadDeadline(time.Now().Add(x.s.scale(baseWait)))
	rest, err := io.ReadAll(nc2)
	if err != nil {
		t.Errorf("reading outside after the accepted socket closed: %v, want the data then io.EOF", err)
	}
	compare(t, "data sent before a local close", rest, []byte("bye"))
}

// openForDial opens the driver for a subtest with connections dialled from
// outside, skipping without Harness.Dial or listen support.
func (x *subtest) openForDial() *env {
	x.t.Helper()
	if x.s.h.Dial == nil {
		x.t.Skip("Harness.Dial is nil")
	}
	e := x.open(x.s.h.Settings)
	if !e.info.CanListen {
		x.t.Skip("the driver cannot listen (Info.CanListen is false)")
	}
	return e
}

// dial connects from outside to port, closing the connection at the end.
func (e *env) dial(port int) net.Conn {
	e.t.Helper()
	nc, err := e.x.s.h.Dial(e.t, port)
	if err != nil {
		e.t.Fatalf("Harness.Dial(%d): %v", port, err)
	}
	e.t.Cleanup(func() { _ = nc.Close() })
	return nc
}
