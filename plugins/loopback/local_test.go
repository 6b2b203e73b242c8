package loopback_test

import (
	"net/netip"
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// TestListenPortZeroAndLocal: Listen on port 0 picks a free port, Local
// reports it, and the two ends of a connection report each other's
// addresses as local and peer.
func TestListenPortZeroAndLocal(t *testing.T) {
	d, r := open(t, nil)
	l, err := d.Listen(ctx(t), sdk.ListenRequest{Port: 0})
	if err != nil {
		t.Fatalf("Listen(0): %v", err)
	}
	la, err := d.Local(ctx(t), l)
	if err != nil || la.Port() == 0 || la.Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("Local(listener) = %v, %v: want 127.0.0.1 and the port picked", la, err)
	}
	l2, err := d.Listen(ctx(t), sdk.ListenRequest{Port: 0})
	if err != nil {
		t.Fatalf("second Listen(0): %v", err)
	}
	if la2, _ := d.Local(ctx(t), l2); la2.Port() == la.Port() {
		t.Errorf("two listeners on port 0 got the same port %d", la.Port())
	}
	c, err := d.Connect(ctx(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: int(la.Port())})
	if err != nil {
		t.Fatalf("Connect to the port picked: %v", err)
	}
	ev := r.next(t)
	if ev.kind != "accepted" {
		t.Fatalf("event %+v, want accepted", ev)
	}
	cl, _ := d.Local(ctx(t), c)
	cp, _ := d.Peer(ctx(t), c)
	al, _ := d.Local(ctx(t), ev.sock)
	ap, _ := d.Peer(ctx(t), ev.sock)
	if cl != ap || cp != al || al.Port() != la.Port() || cl.Port() == 0 {
		t.Errorf("client %v -> %v, accepted %v -> %v: want each end's local the other's peer, on port %d", cl, cp, al, ap, la.Port())
	}
	if _, err := d.Local(ctx(t), 1<<60); err == nil {
		t.Error("Local of a socket that never existed: no error")
	}
}
