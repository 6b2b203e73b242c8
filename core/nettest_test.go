package core_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"ifsock/core"
)

// nextPort hands out the ports the tests listen on: one counter for the
// package, so no two tests of a run pick the same one.
var nextPort atomic.Int32

func init() { nextPort.Store(20000) }

// listenOnFree calls listen with ports from nextPort until one is free
// (ErrAddressInUse on a driver backed by the host), and closes what it
// opened when the test ends.
func listenOnFree[L interface{ Close() error }](t testing.TB, listen func(ctx context.Context, port int) (L, error)) (L, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var lastErr error
	for range 50 {
		port := int(nextPort.Add(1))
		l, err := listen(ctx, port)
		if err == nil {
			t.Cleanup(func() { _ = l.Close() })
			return l, port
		}
		lastErr = err
	}
	t.Fatal(lastErr)
	var zero L
	return zero, 0
}

// listenFree opens a listening socket with handlers h on a free port.
func listenFree(t testing.TB, i *core.Interface, h core.Handlers) (*core.Socket, int) {
	t.Helper()
	return listenOnFree(t, func(ctx context.Context, port int) (*core.Socket, error) { return i.Listen(ctx, port, h, nil) })
}

// netListenFree opens a net.Listener on a free port.
func netListenFree(t testing.TB, i *core.Interface) (*core.Listener, int) {
	t.Helper()
	return listenOnFree(t, i.NetListen)
}

// makePipe returns two ends of a connection over iface, through its
// net.Listener and Dial adapters.
func makePipe(t *testing.T, i *core.Interface, host string) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		l, port := netListenFree(t, i)
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		c1, err = i.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, nil, err
		}
		c2 = <-accepted
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	}
}

// TestNetConnLoopback runs x/net's net.Conn conformance over lo0 through a
// real plugin process.
func TestNetConnLoopback(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	nettest.TestConn(t, makePipe(t, iface(t, h, "lo0"), "127.0.0.1"))
}
