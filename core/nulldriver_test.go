package core_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// nullDriver takes every write at once and raises no event: the transport
// benchmark's driver.
type nullDriver struct{}

func (nullDriver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	return sdk.Info{Name: "null", CanListen: true, MaxSockets: 10}, nil
}
func (nullDriver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	return 1, nil
}
func (nullDriver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	return 2, nil
}
func (nullDriver) Send(ctx context.Context, s sdk.Socket, data []byte) error { return nil }
func (nullDriver) Peer(ctx context.Context, s sdk.Socket) (netip.AddrPort, error) {
	return netip.AddrPort{}, nil
}
func (nullDriver) Local(ctx context.Context, s sdk.Socket) (netip.AddrPort, error) {
	return netip.AddrPort{}, nil
}
func (nullDriver) CloseSocket(ctx context.Context, s sdk.Socket) error { return nil }
func (nullDriver) Close(ctx context.Context) error                     { return nil }

func init() { builtins["null"] = func() sdk.Driver { return nullDriver{} } }

// BenchmarkTransport measures the plugin boundary alone: a driver whose
// Send takes every byte at once, so the time is the transport's.
func BenchmarkTransport(b *testing.B) {
	for _, size := range []int{64, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("send-%dB", size), func(b *testing.B) {
			h := newHost(b, core.IfaceConfig{Name: "n0", Driver: "null"})
			s, err := iface(b, h, "n0").Connect(context.Background(), "x", 1, core.Handlers{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			for range b.N {
				if err := s.Send(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func (nullDriver) CloseWrite(context.Context, sdk.Socket) error { return nil }

// mirrorDriver is nullDriver whose Send raises the same bytes back as
// Received on the same socket: one round trip through the boundary with
// no network under it.
type mirrorDriver struct {
	nullDriver
	ev sdk.Events
}

func (m *mirrorDriver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	m.ev = req.Events
	return m.nullDriver.Open(ctx, req)
}

func (m *mirrorDriver) Send(ctx context.Context, s sdk.Socket, data []byte) error {
	return m.ev.Received(s, append([]byte(nil), data...))
}

func init() { builtins["mirror"] = func() sdk.Driver { return &mirrorDriver{} } }

// BenchmarkTransportEcho is a 64-byte round trip through the boundary
// alone (host to plugin and back, a driver that answers at once), next to
// the floor it cannot beat: a raw Unix-socket round trip between two
// processes.
func BenchmarkTransportEcho(b *testing.B) {
	unixAddr, _ := echoChild(b)
	b.Run("floor-unix", func(b *testing.B) { benchRoundTrips(b, connRoundTrip(b, dial(b, "unix", unixAddr))) })
	b.Run("mirror", func(b *testing.B) {
		h := newHost(b, core.IfaceConfig{Name: "m0", Driver: "mirror"})
		got := make(chan int, 16)
		s, err := iface(b, h, "m0").Connect(context.Background(), "x", 1, core.Handlers{
			Received: func(_ *core.Socket, d []byte) { got <- len(d) },
		}, nil)
		if err != nil {
			b.Fatal(err)
		}
		msg := make([]byte, 64)
		benchRoundTrips(b, func() error {
			if err := s.Send(msg); err != nil {
				return err
			}
			for n := 0; n < len(msg); n += <-got {
			}
			return nil
		})
	})
}
