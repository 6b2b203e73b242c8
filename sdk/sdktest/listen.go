package sdktest

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// testPeerAddress: a client's Peer is the listener's host and port; an
// accepted socket's Peer equals the peer Accepted gave, a valid address
// with a port (the client's loopback address when SelfHost is one).
func testPeerAddress(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.needSelf()
	host := x.s.h.SelfHost
	l := e.listen(nil)
	port := e.portOf(l)
	c := e.mustConnect(host, port, nil)
	a := e.accept(l)

	cp, err := e.peer(c)
	if err != nil {
		t.Fatalf("Peer of the client: %v", err)
	}
	if int(cp.Port()) != port {
		t.Errorf("Peer of the client = %v: want port %d, the listener's", cp, port)
	}
	ip, isIP := netip.ParseAddr(host)
	if isIP == nil && cp.Addr().Unmap() != ip.Unmap() {
		t.Errorf("Peer of the client = %v: want address %v, the host it connected to", cp, ip)
	}

	ap, err := e.peer(a)
	if err != nil {
		t.Fatalf("Peer of the accepted socket: %v", err)
	}
	e.rec.mu.Lock()
	announced := a.accepted
	e.rec.mu.Unlock()
	if ap != announced {
		t.Errorf("Peer of the accepted socket = %v, but Accepted gave %v", ap, announced)
	}
	if !ap.IsValid() || ap.Port() == 0 {
		t.Errorf("Peer of the accepted socket = %v: want a valid address and port", ap)
	}
	if isIP == nil && ip.IsLoopback() && ap.Addr().Unmap() != ip.Unmap() {
		t.Errorf("Peer of the accepted socket = %v: want address %v, the client's", ap, ip)
	}
}

// testTwoListeners: two listeners at once each accept their own
// connections, and Accepted names the right one.
func testTwoListeners(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.needSelf()
	if e.info.MaxListeners == 1 {
		t.Skip("Info.MaxListeners is 1")
	}
	host := x.s.h.SelfHost
	l1, l2 := e.listen(nil), e.listen(nil)
	c1 := e.mustConnect(host, e.portOf(l1), nil)
	a1 := e.accept(l1)
	c2 := e.mustConnect(host, e.portOf(l2), nil)
	a2 := e.accept(l2)
	e.rec.mu.Lock()
	stray := len(l1.queue) + len(l2.queue)
	e.rec.mu.Unlock()
	if stray != 0 {
		t.Errorf("%d more Accepted than connections", stray)
	}
	for _, p := range []struct{ c, a *conn }{{c1, a1}, {c2, a2}} {
		msg := []byte(fmt.Sprintf("to %v", p.a))
		e.mustSend(p.c, msg)
		compare(t, fmt.Sprintf("data from %v on %v", p.c, p.a), e.awaitBytes(p.a, len(msg)), msg)
	}
}

// testListenerClose: closing a listener leaves the sockets it accepted
// working both ways, refuses new connections, and frees its port.
func testListenerClose(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	e.needSelf()
	host := x.s.h.SelfHost
	l := e.listen(nil)
	port := e.portOf(l)
	c := e.mustConnect(host, port, nil)
	a := e.accept(l)
	e.mustClose(l)

	e.mustSend(c, []byte("ping"))
	compare(t, "data on an accepted socket after its listener closed", e.awaitBytes(a, 4), []byte("ping"))
	e.mustSend(a, []byte("pong"))
	compare(t, "data from an accepted socket after its listener closed", e.awaitBytes(c, 4), []byte("pong"))

	_, err := e.connect(host, port, nil)
	wantErr(t, "Connect to a closed listener's port", err, sdk.ErrRefused)
	if _, err := e.tryListen(port, nil); err != nil {
		t.Errorf("Listen(%d) again after its listener closed: %v", port, err)
	}
}

// testListenSamePort: a second Listen on a port in use is ErrAddressInUse
// (ErrUnsupported when the driver has a single listener).
func testListenSamePort(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	if !e.info.CanListen {
		t.Skip("the driver cannot listen (Info.CanListen is false)")
	}
	l := e.listen(nil)
	port := e.portOf(l)
	_, err := e.tryListen(port, nil)
	if !errors.Is(err, sdk.ErrAddressInUse) && !(e.info.MaxListeners == 1 && errors.Is(err, sdk.ErrUnsupported)) {
		t.Errorf("second Listen(%d) = %v, want ErrAddressInUse", port, err)
	}
}

// testIPv6: a connection to ::1 works and its Peer is [::1]:port.
func testIPv6(t *testing.T, x *subtest) {
	if !x.s.h.IPv6 {
		t.Skip("Harness.IPv6 is false")
	}
	e := x.open(x.s.h.Settings)
	if !e.info.CanListen {
		t.Skip("the driver cannot listen (Info.CanListen is false)")
	}
	l := e.listen(e.echoHandler)
	port := e.portOf(l)
	c := e.mustConnect("::1", port, nil)
	e.roundTrip(c, []byte("over IPv6"))
	cp, err := e.peer(c)
	if err != nil {
		t.Fatalf("Peer: %v", err)
	}
	if want := netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port)); cp != want {
		t.Errorf("Peer = %v, want %v", cp, want)
	}
}
