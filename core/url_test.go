package core_test

import (
	"errors"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
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
// range, or an ErrBadArgument, and never panics. What it returns is what
// the input says (net.SplitHostPort on the input's authority agrees), and
// survives the round trip: formatted back into a URL (an IPv6 host in
// brackets) and parsed again, it gives the same host and port. A
// mis-parse that does not crash, such as an unbracketed IPv6 address split
// at its last colon, fails here.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"tcp://127.0.0.1:4444", "http://h.test", "https://[::1]:8443/x", "mqtt://b.test", "tcp://h:0", "http://[::1", "%zz",
		"tcp://2001:db8::1", "tcp://::1:4444", "tcp://[2001:db8::1]:4444", "tcp://[fe80::1%25lo]:80", "http://u@[::1]/p", "tcp://[127.0.0.1]:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, err := core.ParseURL(s)
		if err != nil {
			if !errors.Is(err, sdk.ErrBadArgument) {
				t.Fatalf("ParseURL(%q): %v is not ErrBadArgument", s, err)
			}
			if n := strings.Count(err.Error(), sdk.ErrBadArgument.Error()); n != 1 {
				t.Fatalf("ParseURL(%q): %q says %q %d times", s, err, sdk.ErrBadArgument, n)
			}
			return
		}
		if host == "" || port < 1 || port > 65535 {
			t.Fatalf("ParseURL(%q) = %q, %d without error", s, host, port)
		}
		if strings.Contains(host, ":") {
			if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
				t.Fatalf("ParseURL(%q) = %q, %d: a host with a colon that is not an IPv6 address", s, host, port)
			}
		}

		// The input's own authority, split as the net package splits
		// host:port, names the same host and port.
		scheme, rest, _ := strings.Cut(strings.TrimSpace(s), "://")
		auth := rest
		if i := strings.IndexAny(auth, "/?#"); i >= 0 {
			auth = auth[:i]
		}
		if i := strings.LastIndexByte(auth, '@'); i >= 0 {
			auth = auth[i+1:]
		}
		if h, p, err := net.SplitHostPort(auth); err == nil {
			uh, uerr := url.PathUnescape(h)
			if uerr != nil || uh != host || strconv.Itoa(port) != strings.TrimLeft(p, "0") {
				t.Fatalf("ParseURL(%q) = %q, %d; the authority %q says %q, %q", s, host, port, auth, h, p)
			}
		} else {
			uh, uerr := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(auth, "["), "]"))
			if uerr != nil || uh != host || (strings.Contains(host, ":") && !strings.HasPrefix(auth, "[")) {
				t.Fatalf("ParseURL(%q) = %q, %d; the authority %q has no port and says another host", s, host, port, auth)
			}
			if port != core.DefaultPorts[strings.ToLower(scheme)] {
				t.Fatalf("ParseURL(%q) = %q, %d; not the default port of %s", s, host, port, scheme)
			}
		}

		// Formatted back (an IPv6 host in brackets) and parsed again: the same.
		formatted := (&url.URL{Scheme: strings.ToLower(scheme), Host: net.JoinHostPort(host, strconv.Itoa(port))}).String()
		if strings.Contains(host, ":") && !strings.Contains(formatted, "["+strings.ReplaceAll(host, "%", "%25")+"]") {
			t.Fatalf("ParseURL(%q): host %q formatted as %q, not in brackets", s, host, formatted)
		}
		h2, p2, err := core.ParseURL(formatted)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("ParseURL(%q) = %q, %d; formatted as %q it parses as %q, %d, %v", s, host, port, formatted, h2, p2, err)
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

// FuzzParseIfaceSpec: a spec parses into a valid definition within the
// limits or fails with a short ErrBadArgument; it never panics, it keeps
// one setting per KEY=VALUE of the input, and what it parses survives the
// round trip through an escaped spec unchanged.
func FuzzParseIfaceSpec(f *testing.F) {
	for _, s := range []string{"lo0=loopback", `wl0=esp8266,port=/dev/ttyUSB0,ssid=a\,b`, "eth0=hostnet,bind=::,max_sockets=10", "x=y,=", `a=b,c=\\`,
		`lo0=loop\=back,a=b=c`, "lo0=loopback,a_env=HOME", `lo0=l,k=\\\,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ic, err := core.ParseIfaceSpec(s)
		if err != nil {
			if !errors.Is(err, sdk.ErrBadArgument) {
				t.Fatalf("ParseIfaceSpec(%q): %v is not ErrBadArgument", s, err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("ParseIfaceSpec(%q): an error of %d bytes", s, len(err.Error()))
			}
			return
		}
		if !core.ValidName(ic.Name) || ic.Driver == "" || len(ic.Driver) > core.MaxDriverName {
			t.Fatalf("ParseIfaceSpec(%q) = %+v", s, ic)
		}
		total := 0
		for k, v := range ic.Settings {
			if len(k) > core.MaxSettingKey || len(v) > core.MaxSettingValue || strings.HasSuffix(k, "_env") && k != "_env" {
				t.Fatalf("ParseIfaceSpec(%q): setting %q=%q kept", s, k, v)
			}
			total += len(k) + len(v)
		}
		if total > core.MaxSettings {
			t.Fatalf("ParseIfaceSpec(%q): %d bytes of settings kept", s, total)
		}
		if want := unescapedCommas(s); len(ic.Settings) != want {
			t.Fatalf("ParseIfaceSpec(%q) = %+v: %d settings, the spec has %d", s, ic, len(ic.Settings), want)
		}
		spec := formatSpec(ic)
		again, err := core.ParseIfaceSpec(spec)
		if err != nil || !reflect.DeepEqual(again, ic) {
			t.Fatalf("ParseIfaceSpec(%q) = %+v; formatted as %q it parses as %+v, %v", s, ic, spec, again, err)
		}
	})
}

// formatSpec writes a definition as an --iface value, escaping commas and
// backslashes; settings in key order.
func formatSpec(ic core.IfaceConfig) string {
	esc := strings.NewReplacer(`\`, `\\`, ",", `\,`)
	var b strings.Builder
	b.WriteString(esc.Replace(ic.Name) + "=" + esc.Replace(ic.Driver))
	for _, k := range slices.Sorted(maps.Keys(ic.Settings)) {
		b.WriteString("," + esc.Replace(k) + "=" + esc.Replace(ic.Settings[k]))
	}
	return b.String()
}

// unescapedCommas counts the commas of s that no backslash escapes.
func unescapedCommas(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ',':
			n++
		}
	}
	return n
}
