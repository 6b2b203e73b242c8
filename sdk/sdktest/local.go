package sdktest

import (
	"net"
	"net/netip"
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// Design rule 12: a listener on port 0 gets a free port from the driver,
// and the local and remote addresses of every socket are IP and port.

// testListenPortZero: Listen on port 0 gives a listener whose Local is a
// valid address with a non-zero port, reachable at that port (Connect to
// SelfHost, else Harness.Dial); the sockets it accepts have that port as
// their Local port; a second listener on port 0 gets another port; Local of
// a closed listener is ErrClosed.
func testListenPortZero(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	if !e.info.CanListen {
		t.Skip("the driver cannot listen (Info.CanListen is false)")
	}
	l, err := e.tryListen(0, nil)
	if err != nil {
		t.Fatalf("Listen(0): %v", err)
	}
	la, err := e.local(l)
	if err != nil {
		t.Fatalf("Local of the listener: %v", err)
	}
	if !la.Addr().IsValid() || la.Port() == 0 {
		t.Fatalf("Local of a listener on port 0 = %v: want an IP address and the port the driver picked", la)
	}
	port := int(la.Port())

	var a *conn
	switch {
	case e.canSelf():
		c := e.mustConnect(x.s.h.SelfHost, port, nil)
		a = e.accept(l)
		e.mustSend(c, []byte("port 0"))
		compare(t, "data to the port Listen(0) got", e.awaitBytes(a, 6), []byte("port 0"))
	case x.s.h.Dial != nil:
		nc := e.dial(port)
		a = e.accept(l)
		if _, err := nc.Write([]byte("port 0")); err != nil {
			t.Fatalf("writing from outside: %v", err)
		}
		compare(t, "data to the port Listen(0) got", e.awaitBytes(a, 6), []byte("port 0"))
	default:
		t.Logf("the port is not dialled: needs Harness.SelfHost or Harness.Dial")
	}
	if a != nil {
		if al, err := e.local(a); err != nil || int(al.Port()) != port {
			t.Errorf("Local of a socket the listener accepted = %v, %v: want port %d, the listener's", al, err, port)
		}
	}

	if e.info.MaxListeners != 1 {
		l2, err := e.tryListen(0, nil)
		switch {
		case err != nil:
			t.Errorf("a second Listen(0): %v", err)
		case e.portOf(l2) == port:
			t.Errorf("a second Listen(0) got port %d too, the first listener's", port)
		}
	}

	e.mustClose(l)
	_, err = e.local(l)
	wantErr(t, "Local of a closed listener", err, sdk.ErrClosed)
}

// testLocalAddress: Local of connected and accepted sockets is a valid
// address with a non-zero port, and matches the other end's view: for a
// connection between two sockets of the driver, the client's Local is the
// accepted socket's Peer and the other way round; for one dialled from
// outside, the accepted socket's Local is the address the outside dialled
// and its Peer the outside's own address; for one to the harness's echo
// server, the client's Local is valid.
func testLocalAddress(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	h := x.s.h
	ran := false
	var l *conn // one listener serves both parts (an ESP8266 has one)
	if e.canSelf() {
		ran = true
		l = e.listen(nil)
		port := e.portOf(l)
		c := e.mustConnect(h.SelfHost, port, nil)
		a := e.accept(l)
		cl, al := e.mustLocal(c, "the client"), e.mustLocal(a, "the accepted socket")
		cp, ap := e.mustPeer(c, "the client"), e.mustPeer(a, "the accepted socket")
		if int(al.Port()) != port {
			t.Errorf("Local of the accepted socket = %v: want port %d, the listener's", al, port)
		}
		if unmap(cl) != unmap(ap) {
			t.Errorf("Local of the client = %v, but the accepted socket's Peer = %v: want the same address and port", cl, ap)
		}
		if unmap(al) != unmap(cp) {
			t.Errorf("Local of the accepted socket = %v, but the client's Peer = %v: want the same address and port", al, cp)
		}
	}
	if h.Dial != nil && e.info.CanListen {
		ran = true
		if l == nil {
			l = e.listen(nil)
		}
		port := e.portOf(l)
		nc := e.dial(port)
		a := e.accept(l)
		al, ap := e.mustLocal(a, "the accepted socket"), e.mustPeer(a, "the accepted socket")
		if want, ok := addrPortOf(nc.RemoteAddr()); ok && unmap(al) != want {
			t.Errorf("Local of a socket accepted from outside = %v: want %v, the address the outside dialled", al, want)
		}
		if want, ok := addrPortOf(nc.LocalAddr()); ok && unmap(ap) != want {
			t.Errorf("Peer of a socket accepted from outside = %v: want %v, the outside's address", ap, want)
		}
	}
	if h.EchoServer != nil {
		ran = true
		host, port := h.EchoServer(t)
		c := e.mustConnect(host, port, nil)
		e.mustLocal(c, "a client of the echo server")
		e.mustClose(c)
	}
	if !ran {
		t.Skip("needs Harness.SelfHost, Harness.Dial or Harness.EchoServer: a connection to look at")
	}
}

// mustLocal returns Local of c, failing the subtest unless it is a valid
// address with a non-zero port.
func (e *env) mustLocal(c *conn, what string) netip.AddrPort {
	e.t.Helper()
	a, err := e.local(c)
	if err != nil {
		e.t.Fatalf("Local of %s: %v", what, err)
	}
	if !a.Addr().IsValid() || a.Port() == 0 {
		e.t.Errorf("Local of %s = %v: want an IP address and a non-zero port (rule 12)", what, a)
	}
	return a
}

// mustPeer returns Peer of c, failing the subtest on an error.
func (e *env) mustPeer(c *conn, what string) netip.AddrPort {
	e.t.Helper()
	a, err := e.peer(c)
	if err != nil {
		e.t.Fatalf("Peer of %s: %v", what, err)
	}
	return a
}

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// addrPortOf converts a net.Addr of a TCP connection.
func addrPortOf(a net.Addr) (netip.AddrPort, bool) {
	p, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return unmap(p), true
}
