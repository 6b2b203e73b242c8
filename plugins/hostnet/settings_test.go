package hostnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

func TestSettingsDefaults(t *testing.T) {
	d, info := open(t, newRecorder(), nil)
	want := sdk.Info{Name: "hostnet", Version: Version, Device: info.Device,
		CanListen: true, MaxListeners: 0, MaxSockets: 1024, MaxWrite: 0, CanHalfClose: true}
	if info != want {
		t.Errorf("info = %+v, want %+v", info, want)
	}
	cfg := d.sess.cfg
	if cfg.bind != netip.MustParseAddr("127.0.0.1") || cfg.connectTimeout != 10*time.Second ||
		cfg.maxSockets != 1024 || cfg.readSize != 128<<10 || cfg.keepalive != 15*time.Second || !cfg.noDelay {
		t.Errorf("default config = %+v", cfg)
	}
}

func TestSettingsParsed(t *testing.T) {
	_, info := open(t, newRecorder(), sdk.Settings{
		"bind": "::1", "connect_timeout": "250ms", "max_sockets": "7",
		"read_size": "100", "keepalive": "off", "nodelay": "false",
	})
	if info.MaxSockets != 7 {
		t.Errorf("MaxSockets = %d, want 7", info.MaxSockets)
	}
	cfg, err := parseSettings(sdk.Settings{"bind": "[::]", "keepalive": "1m"})
	if err != nil || cfg.bind != netip.IPv6Unspecified() || cfg.keepalive != time.Minute {
		t.Errorf("parse = %+v, %v", cfg, err)
	}
}

func TestSettingsBad(t *testing.T) {
	for _, s := range []sdk.Settings{
		{"bind": "localhost"},
		{"bind": "300.1.1.1"},
		{"bind": "fe80::1%lo"},
		{"connect_timeout": "-1s"},
		{"connect_timeout": "10"},
		{"max_sockets": "0"},
		{"max_sockets": "many"},
		{"read_size": "0"},
		{"read_size": "99999999"},
		{"keepalive": "sometimes"},
		{"nodelay": "maybe"},
		{"bnid": "0.0.0.0"},
	} {
		_, err := New().Open(context.Background(), sdk.OpenRequest{Settings: s, Events: newRecorder()})
		if !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("open with %v: err = %v, want ErrBadArgument", s, err)
			continue
		}
		if err.Error() != strings.ToLower(err.Error()[:1])+err.Error()[1:] {
			t.Errorf("open with %v: message not lower case: %q", s, err)
		}
	}
	_, err := New().Open(context.Background(), sdk.OpenRequest{Settings: sdk.Settings{"bnid": "x"}, Events: newRecorder()})
	for _, k := range knownSettings {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("unknown-setting error %q does not name %q", err, k)
		}
	}
}

// TestBindDefault proves the default bind is 127.0.0.1: the OS reports the
// listener on 127.0.0.1, it answers there, and not on another loopback
// address (Linux routes all of 127/8 to lo) nor on ::1.
func TestBindDefault(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, nil)
	l, port := listenZero(t, d)
	got := listenerAddr(t, d, l)
	if want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)); got != want {
		t.Fatalf("listener address = %v, want %v", got, want)
	}
	c, err := net.DialTimeout("tcp", hostPort("127.0.0.1", port), watchdog)
	if err != nil {
		t.Fatalf("dial 127.0.0.1: %v", err)
	}
	c.Close()
	for _, other := range []string{"127.0.0.2", "::1"} {
		c, err := net.DialTimeout("tcp", hostPort(other, port), watchdog)
		if err == nil {
			c.Close()
			t.Errorf("dial %s: connected, want refused (the listener must bind 127.0.0.1 only)", other)
		}
	}
}

func TestBindAll(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, sdk.Settings{"bind": "::"})
	l, port := listenZero(t, d)
	if got := listenerAddr(t, d, l).Addr(); got != netip.IPv6Unspecified() {
		t.Errorf("listener address = %v, want ::", got)
	}
	for i, host := range []string{"127.0.0.1", "::1"} {
		c, err := net.DialTimeout("tcp", hostPort(host, port), watchdog)
		if err != nil {
			t.Fatalf("dial %s: %v", host, err)
		}
		defer c.Close()
		ev := r.accepted(t, i+1)
		// The peer is exactly what the dialer's OS reports as its own
		// address, with IPv4-in-IPv6 unmapped.
		if want := c.LocalAddr().(*net.TCPAddr).AddrPort(); ev.peer != want || ev.listener != l {
			t.Errorf("accepted from %s: listener %v peer %v, want %v peer %v", host, ev.listener, ev.peer, l, want)
		}
		if p, err := d.Peer(ctxT(t), ev.sock); err != nil || p != ev.peer {
			t.Errorf("Peer(%v) = %v, %v; want %v", ev.sock, p, err, ev.peer)
		}
	}
	r.check(t)
}

// listenerAddr returns the local address the OS reports for listener l.
func listenerAddr(t *testing.T, d *Driver, l sdk.Socket) netip.AddrPort {
	t.Helper()
	s, err := d.sess.lookup("test", l)
	if err != nil {
		t.Fatal(err)
	}
	return s.ln.Addr().(*net.TCPAddr).AddrPort()
}
