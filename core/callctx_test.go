package core_test

import (
	"context"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// stallDriver is a loopback whose Peer, Local and CloseSocket wait until
// their ctx ends: a device that stopped answering.
type stallDriver struct{ *loopback.Driver }

func (d stallDriver) Peer(ctx context.Context, s sdk.Socket) (netip.AddrPort, error) {
	<-ctx.Done()
	return netip.AddrPort{}, sdk.Errorf(sdk.ErrTimeout, "peer: %w", ctx.Err())
}

func (d stallDriver) Local(ctx context.Context, s sdk.Socket) (netip.AddrPort, error) {
	<-ctx.Done()
	return netip.AddrPort{}, sdk.Errorf(sdk.ErrTimeout, "local: %w", ctx.Err())
}

func (d stallDriver) CloseSocket(ctx context.Context, s sdk.Socket) error {
	<-ctx.Done()
	_ = d.Driver.CloseSocket(context.Background(), s)
	return sdk.Errorf(sdk.ErrTimeout, "close: %w", ctx.Err())
}

func init() { builtins["stall"] = func() sdk.Driver { return stallDriver{loopback.New()} } }

// TestCallsTakeAContext: Peer and Close of a socket whose driver stalls
// return when the caller's ctx ends (PeerContext, CloseContext), and the
// simple forms within Config.CallTimeout, not a fixed 10 s.
func TestCallsTakeAContext(t *testing.T) {
	cfg := core.Config{
		Interfaces: []core.IfaceConfig{{Name: "st0", Driver: "stall"}},
		Builtins:   builtins, InProcess: true, Logger: testLogger(t),
	}
	f := reflect.ValueOf(&cfg).Elem().FieldByName("CallTimeout")
	if !f.IsValid() {
		t.Fatal("core.Config has no CallTimeout setting")
	}
	f.Set(reflect.ValueOf(300 * time.Millisecond))
	h, err := core.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	i := iface(t, h, "st0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := i.Listen(ctx, 80, core.Handlers{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = l
	connect := func() *core.Socket {
		s, err := i.Connect(ctx, "127.0.0.1", 80, core.Handlers{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	within := func(what string, limit time.Duration, f func()) {
		t.Helper()
		start := time.Now()
		f()
		if d := time.Since(start); d > limit {
			t.Errorf("%s took %v, want at most %v", what, d, limit)
		}
	}
	s := connect()
	within("Peer with CallTimeout 300ms", 2*time.Second, func() { _, _ = s.Peer() })
	within("Close with CallTimeout 300ms", 2*time.Second, func() { _ = s.Close() })

	s = connect()
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort()
	pc, ok := any(s).(interface {
		PeerContext(context.Context) (netip.AddrPort, error)
	})
	if !ok {
		t.Fatal("Socket has no PeerContext")
	}
	within("PeerContext with a 100ms ctx", time.Second, func() {
		if _, err := pc.PeerContext(short); err == nil {
			t.Error("PeerContext of a stalled driver returned no error")
		}
	})
	cc, ok := any(s).(interface{ CloseContext(context.Context) error })
	if !ok {
		t.Fatal("Socket has no CloseContext")
	}
	short2, cancelShort2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelShort2()
	within("CloseContext with a 100ms ctx", time.Second, func() { _ = cc.CloseContext(short2) })
}
