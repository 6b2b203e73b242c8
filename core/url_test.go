package core_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"ifsock/core"
	"ifsock/sdk"
)

func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		host string
		port int
	}{
		{"tcp://127.0.0.1:4444", "127.0.0.1", 4444},
		{"http://example.test", "example.test", 80},
		{"https://example.test/path?q=1", "example.test", 443},
		{"mqtt://broker.test", "broker.test", 1883},
		{"ws://h.test/socket", "h.test", 80},
		{"http://h.test:8080", "h.test", 8080},
		{"HTTP://h.test", "h.test", 80},
		{"tcp://[::1]:9000", "::1", 9000},
		{"https://[::1]", "::1", 443},
	}
	for _, c := range good {
		host, port, err := core.ParseURL(c.url)
		if assert.NoError(t, err, c.url) {
			assert.Equal(t, c.host, host, c.url)
			assert.Equal(t, c.port, port, c.url)
		}
	}
	bad := []string{"", "tcp://127.0.0.1", "tcp://:80", "http://", "127.0.0.1:80", "gopherx://h.test",
		"tcp://h.test:0", "tcp://h.test:65536", "tcp://h.test:x", "http://h.test:", "mailto:a@b.test", "://x"}
	for _, u := range bad {
		_, _, err := core.ParseURL(u)
		assert.ErrorIs(t, err, sdk.ErrBadArgument, u)
	}
}

// FuzzParseURL: whatever the input, ParseURL returns a host and a port in
// range, or an ErrBadArgument, and never panics.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"tcp://127.0.0.1:4444", "http://h.test", "https://[::1]:8443/x", "mqtt://b.test", "tcp://h:0", "http://[::1", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := core.ParseURL(s)
		if err != nil {
			if !errors.Is(err, sdk.ErrBadArgument) {
				t.Fatalf("ParseURL(%q): %v is not ErrBadArgument", s, err)
			}
			return
		}
		if host == "" || port < 1 || port > 65535 {
			t.Fatalf("ParseURL(%q) = %q, %d without error", s, host, port)
		}
	})
}

func TestParseIfaceSpec(t *testing.T) {
	t.Setenv("TEST_WIFI_PASSWORD", "p,a=ss")
	ic, err := core.ParseIfaceSpec(`wl0=esp8266,port=/dev/ttyUSB0,ssid=my\,net,password_env=TEST_WIFI_PASSWORD`)
	if err != nil {
		t.Fatal(err)
	}
	if ic.Name != "wl0" || ic.Driver != "esp8266" || ic.Settings["port"] != "/dev/ttyUSB0" ||
		ic.Settings["ssid"] != "my,net" || ic.Settings["password"] != "p,a=ss" {
		t.Fatalf("got %+v", ic)
	}
	if _, ok := ic.Settings["password_env"]; ok {
		t.Error("password_env kept")
	}
	for _, bad := range []string{"", "lo0", "=loopback", "lo0=", "LO0=loopback", "lo0=loopback,x", "lo0=loopback,a=1,a=2",
		"wl0=esp8266,password_env=NOT_SET_ANYWHERE_X", `lo0=loopback,a=b\`} {
		if _, err := core.ParseIfaceSpec(bad); !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("ParseIfaceSpec(%q): %v, want ErrBadArgument", bad, err)
		}
	}
}

// FuzzParseIfaceSpec: a spec parses into a valid definition or fails with
// ErrBadArgument; it never panics, and what it parses survives the trip
// back through an escaped spec.
func FuzzParseIfaceSpec(f *testing.F) {
	for _, s := range []string{"lo0=loopback", `wl0=esp8266,port=/dev/ttyUSB0,ssid=a\,b`, "eth0=hostnet,bind=::,max_sockets=10", "x=y,=", `a=b,c=\\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ic, err := core.ParseIfaceSpec(s)
		if err != nil {
			if !errors.Is(err, sdk.ErrBadArgument) {
				t.Fatalf("ParseIfaceSpec(%q): %v is not ErrBadArgument", s, err)
			}
			return
		}
		if !core.ValidName(ic.Name) || ic.Driver == "" {
			t.Fatalf("ParseIfaceSpec(%q) = %+v", s, ic)
		}
	})
}
