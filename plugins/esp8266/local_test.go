package esp8266

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
	"github.com/ifsock/ifsock/sdk"
)

// Design rule 12 on the ESP8266: Listen on port 0 gets a port the driver
// picks (the module refuses AT+CIPSERVER=1,0), and Local reports real
// addresses: the module's station IP with the server's port for the
// listener and the sockets it accepted, and with the link's own local port
// (from AT+CIPSTATUS) for a link the module opened.

// originServer accepts connections on 127.0.0.1 and sends each one's remote
// address (what the other end's Local must be) on the returned channel.
func originServer(t *testing.T) (int, <-chan netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan netip.AddrPort, 8)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			seen <- netip.MustParseAddrPort(c.RemoteAddr().String())
			t.Cleanup(func() { c.Close() })
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().(*net.TCPAddr).Port, seen
}

// TestLocalAddressesPlugin checks Listen(0) and Local through the plugin
// process on the emulator's pty, in both dialects.
func TestLocalAddressesPlugin(t *testing.T) {
	for _, fw := range firmwares {
		t.Run(string(fw), func(t *testing.T) {
			e := newEmulator(t, emulator.Config{Firmware: fw, Latency: time.Millisecond})
			d, rec := launchOn(t, e, nil)
			station := netip.MustParseAddr(emulator.DefaultStationIP)
			ctx, cancel := ctxT()
			defer cancel()

			t.Run("Connected", func(t *testing.T) {
				port, seen := originServer(t)
				c, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				defer d.CloseSocket(ctx, c)
				var remote netip.AddrPort
				select {
				case remote = <-seen:
				case <-time.After(watchdog):
					t.Fatal("the server saw no connection")
				}
				got, err := d.Local(ctx, c)
				if want := netip.AddrPortFrom(station, remote.Port()); err != nil || got != want {
					t.Errorf("Local of a connected socket = %v, %v; want %v (the station IP, and the port the peer sees)", got, err, want)
				}
			})

			t.Run("ListenPortZero", func(t *testing.T) {
				l, err := d.Listen(ctx, sdk.ListenRequest{Port: 0})
				if err != nil {
					t.Fatalf("Listen(0): %v", err)
				}
				defer d.CloseSocket(ctx, l)
				la, err := d.Local(ctx, l)
				if err != nil {
					t.Fatalf("Local of the listener: %v", err)
				}
				if la.Addr() != station || la.Port() < ephemeralLow {
					t.Fatalf("Local of the listener = %v: want %v and a port from %d-65535", la, station, ephemeralLow)
				}
				nc, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(la.Port()))))
				if err != nil {
					t.Fatalf("dialling the port Local reported: %v", err)
				}
				defer nc.Close()
				a := rec.waitAccepted(t, l)
				if got, err := d.Local(ctx, a); err != nil || got != la {
					t.Errorf("Local of the accepted socket = %v, %v; want %v", got, err, la)
				}
				if got, err := d.Peer(ctx, a); err != nil || got != netip.MustParseAddrPort(nc.LocalAddr().String()) {
					t.Errorf("Peer of the accepted socket = %v, %v; want %v", got, err, nc.LocalAddr())
				}
				nc.Write([]byte("hi"))
				if got := rec.waitBytes(t, a, 2); string(got) != "hi" {
					t.Errorf("accepted socket received %q", got)
				}
			})
		})
	}
}

// TestListenPortZeroRetries: when the module refuses the port the driver
// picked (in use on the module: here the emulator cannot listen on it), the
// driver picks another.
func TestListenPortZeroRetries(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().(*net.TCPAddr).Port
	var picked []int
	old := pickPort
	pickPort = func(try int) int {
		p := taken
		if try > 0 {
			p = old(try)
		}
		picked = append(picked, p)
		return p
	}
	defer func() { pickPort = old }()
	for _, fw := range firmwares {
		t.Run(string(fw), func(t *testing.T) {
			picked = nil
			e := newEmulator(t, emulator.Config{Firmware: fw})
			rec := newRecorder()
			d := openOn(t, servePipe(t, e), nil, rec)
			ctx, cancel := ctxT()
			defer cancel()
			l, err := d.Listen(ctx, sdk.ListenRequest{Port: 0})
			if err != nil {
				t.Fatalf("Listen(0) with the first pick in use: %v", err)
			}
			la, err := d.Local(ctx, l)
			if err != nil || len(picked) < 2 || int(la.Port()) != picked[len(picked)-1] || int(la.Port()) == taken {
				t.Fatalf("Local = %v, %v after picks %v (port %d in use)", la, err, picked, taken)
			}
			nc, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(la.Port()))))
			if err != nil {
				t.Fatal(err)
			}
			nc.Close()
			rec.waitAccepted(t, l)
		})
	}
}
