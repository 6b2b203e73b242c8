package core_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// TestListenPortZero listens on port 0 on every driver that can listen, through
// real plugin processes: the driver picks a free port, Addr reports it, and
// a dial to that address reaches the listener.
func TestListenPortZero(t *testing.T) {
	h := newHost(t)
	for _, name := range []string{"lo0", "eth0"} {
		t.Run(name, func(t *testing.T) {
			i := iface(t, h, name)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l, err := i.NetListen(ctx, 0)
			if err != nil {
				t.Fatalf("NetListen(0): %v", err)
			}
			defer l.Close()
			ta, ok := l.Addr().(*net.TCPAddr)
			if !ok || ta.Port == 0 {
				t.Fatalf("Addr() = %#v, want a *net.TCPAddr with the port picked", l.Addr())
			}
			// A second listener on port 0 gets another port.
			l2, err := i.NetListen(ctx, 0)
			if err != nil {
				t.Fatalf("second NetListen(0): %v", err)
			}
			defer l2.Close()
			if p2 := l2.Addr().(*net.TCPAddr).Port; p2 == ta.Port {
				t.Errorf("two listeners on port 0 both got %d", p2)
			}
			go func() {
				if c, err := l.Accept(); err == nil {
					c.Write([]byte("hi"))
					c.Close()
				}
			}()
			c, err := i.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ta.Port)))
			if err != nil {
				t.Fatalf("dial the picked port: %v", err)
			}
			defer c.Close()
			buf := make([]byte, 2)
			if _, err := c.Read(buf); err != nil || string(buf) != "hi" {
				t.Errorf("read %q, %v", buf, err)
			}
			// The Socket API takes port 0 too, and Local says the port.
			s, err := i.Listen(ctx, 0, core.Handlers{}, nil)
			if err != nil {
				t.Fatalf("Listen(0): %v", err)
			}
			defer s.Close()
			local, ok := any(s).(interface {
				Local() (netip.AddrPort, error)
			})
			if !ok {
				t.Fatal("Socket has no Local method")
			}
			if a, err := local.Local(); err != nil || a.Port() == 0 {
				t.Errorf("Local() of a listener on port 0 = %v, %v", a, err)
			}
		})
	}
}

// TestAddressesAreTCPAddrs checks that a listener's Addr and a connection's
// LocalAddr and RemoteAddr, both ends, are *net.TCPAddr with the real IP
// and port, each end's local the other's remote; and that the interface
// name is had another way.
func TestAddressesAreTCPAddrs(t *testing.T) {
	h := newHost(t)
	for _, name := range []string{"lo0", "eth0"} {
		t.Run(name, func(t *testing.T) {
			i := iface(t, h, name)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l, port := netListenFree(t, i)
			la, ok := l.Addr().(*net.TCPAddr)
			if !ok {
				t.Fatalf("Listener.Addr() is a %T (%v), want *net.TCPAddr", l.Addr(), l.Addr())
			}
			if la.Port != port || !la.IP.IsLoopback() {
				t.Errorf("Listener.Addr() = %v, want 127.0.0.1:%d", la, port)
			}
			// What Addr says is what net.Dial-style code dials.
			accepted := make(chan net.Conn, 1)
			go func() { c, _ := l.Accept(); accepted <- c }()
			c, err := i.DialContext(ctx, "tcp", l.Addr().String())
			if err != nil {
				t.Fatalf("dial Listener.Addr() %q: %v", l.Addr(), err)
			}
			defer c.Close()
			p := <-accepted
			defer p.Close()
			cl, ok1 := c.LocalAddr().(*net.TCPAddr)
			cr, ok2 := c.RemoteAddr().(*net.TCPAddr)
			pl, ok3 := p.LocalAddr().(*net.TCPAddr)
			pr, ok4 := p.RemoteAddr().(*net.TCPAddr)
			if !ok1 || !ok2 || !ok3 || !ok4 {
				t.Fatalf("addresses %T %v, %T %v, %T %v, %T %v: want *net.TCPAddr (code doing conn.LocalAddr().(*net.TCPAddr) panics)",
					c.LocalAddr(), c.LocalAddr(), c.RemoteAddr(), c.RemoteAddr(), p.LocalAddr(), p.LocalAddr(), p.RemoteAddr(), p.RemoteAddr())
			}
			if cl.Port == 0 || cl.IP == nil || !cl.IP.IsLoopback() {
				t.Errorf("client LocalAddr = %v, want a loopback IP and a port", cl)
			}
			if cl.String() != pr.String() || cr.String() != pl.String() {
				t.Errorf("client %v -> %v, server %v -> %v: each end's local must be the other's remote", cl, cr, pl, pr)
			}
			if cr.Port != port {
				t.Errorf("client RemoteAddr = %v, want port %d", cr, port)
			}
			type named interface{ Interface() *core.Interface }
			if n, ok := c.(named); !ok || n.Interface().Name() != name {
				t.Errorf("Conn has no Interface method naming %s", name)
			}
			if n, ok := any(l).(named); !ok || n.Interface().Name() != name {
				t.Errorf("Listener has no Interface method naming %s", name)
			}
		})
	}
}

// TestDialNetworkFamily checks that DialContext honours its network: tcp4
// and tcp6 restrict the family, and another network is a clear error.
func TestDialNetworkFamily(t *testing.T) {
	h := newHost(t)
	i := iface(t, h, "lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, port := netListenFree(t, i)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	p := strconv.Itoa(port)
	for _, c := range []struct {
		network, addr string
		ok            bool
	}{
		{"tcp", "127.0.0.1:" + p, true},
		{"tcp4", "127.0.0.1:" + p, true},
		{"tcp6", "[::1]:" + p, true},
		{"tcp6", "127.0.0.1:" + p, false},
		{"tcp4", "[::1]:" + p, false},
		{"tcp4", "localhost:" + p, true},
	} {
		conn, err := i.DialContext(ctx, c.network, c.addr)
		if conn != nil {
			conn.Close()
		}
		if (err == nil) != c.ok {
			t.Errorf("DialContext(%s, %s) = %v, want ok %v", c.network, c.addr, err, c.ok)
		}
	}
	_, err := i.DialContext(ctx, "udp", "127.0.0.1:"+p)
	if !errors.Is(err, sdk.ErrUnsupported) {
		t.Errorf("DialContext(udp) = %v, want ErrUnsupported", err)
	} else {
		t.Logf("udp: %v", err)
	}
}
