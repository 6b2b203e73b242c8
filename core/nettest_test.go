package core_test

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/ifsock/ifsock/core"
)

// listenFree opens a listening socket with handlers h on port 0, a free
// port the driver picks, and returns it with that port; it is closed when
// the test ends.
func listenFree(t testing.TB, i *core.Interface, h core.Handlers) (*core.Socket, int) {
	t.Helper()
	s, _ := listenZero(t, i, func(ctx context.Context, port int) (*core.Socket, error) { return i.Listen(ctx, port, h, nil) })
	a, err := s.Local()
	if err != nil || a.Port() == 0 {
		t.Fatalf("Local of a listener = %v, %v: want its port", a, err)
	}
	return s, int(a.Port())
}

// netListenFree opens a net.Listener on port 0, a free port the driver
// picks, and returns it with that port; it is closed when the test ends.
func netListenFree(t testing.TB, i *core.Interface) (*core.Listener, int) {
	t.Helper()
	l, _ := listenZero(t, i, i.NetListen)
	port := l.Addr().(*net.TCPAddr).Port
	if port == 0 {
		t.Fatalf("Addr of a listener on port 0 = %v: want the port the driver picked", l.Addr())
	}
	return l, port
}

// fallbackPorts hands out ports for a driver that cannot pick one yet: the
// ESP8266's Listen sends port 0 to the module, which refuses it.
var fallbackPorts atomic.Int32

func init() { fallbackPorts.Store(20000) }

// listenZero listens on port 0; on an ESP8266, whose driver refuses it
// today, it tries ports of fallbackPorts until one is free.
func listenZero[L interface{ Close() error }](t testing.TB, i *core.Interface, listen func(ctx context.Context, port int) (L, error)) (L, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := listen(ctx, 0)
	for k := 0; err != nil && i.Driver() == "esp8266" && k < 50; k++ {
		l, err = listen(ctx, int(fallbackPorts.Add(1)))
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l, nil
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
