package core_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"ifsock/core"
)

var nextPort atomic.Int32

func init() { nextPort.Store(20000) }

// makePipe returns two ends of a connection over iface, through its
// net.Listener and Dial adapters.
func makePipe(t *testing.T, i *core.Interface, host string) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var l *core.Listener
		var port int
		for range 50 {
			port = int(nextPort.Add(1))
			if l, err = i.NetListen(ctx, port); err == nil {
				break
			}
		}
		if err != nil {
			return nil, nil, nil, err
		}
		defer l.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, _ := l.Accept()
			accepted <- c
		}()
		c1, err = i.DialContext(ctx, "tcp", net.JoinHostPort(host, itoa(port)))
		if err != nil {
			return nil, nil, nil, err
		}
		c2 = <-accepted
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	}
}

func itoa(n int) string { return (&net.TCPAddr{Port: n}).String()[1:] }

// TestNetConnLoopback runs x/net's net.Conn conformance over lo0 through a
// real plugin process.
func TestNetConnLoopback(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	nettest.TestConn(t, makePipe(t, iface(t, h, "lo0"), "127.0.0.1"))
}
