package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// The bad inputs of issue 9: each is refused with an ErrBadArgument that
// says what was wrong and what to write instead, in a short line.

// maxErrLen bounds an error that echoes a huge input: the input's prefix,
// its size and the advice fit in it.
const maxErrLen = 512

func TestParseURLUnbracketedIPv6(t *testing.T) {
	for _, c := range []struct{ url, advice string }{
		{"tcp://2001:db8::1", "tcp://[2001:db8::1]:PORT"},
		{"tcp://2001:db8::1:4444", "tcp://[2001:db8::1:4444]:PORT"},
		{"tcp://::1:4444", "tcp://[::1]:4444"},
		{"tcp://::1", "tcp://[::1]:PORT"},
		{"https://fe80::1", "https://[fe80::1]"},
	} {
		host, port, err := core.ParseURL(c.url)
		if !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("ParseURL(%q) = %q, %d, %v; want ErrBadArgument", c.url, host, port, err)
			continue
		}
		if !strings.Contains(err.Error(), c.advice) {
			t.Errorf("ParseURL(%q): %v; want the advice %s", c.url, err, c.advice)
		}
		if n := strings.Count(err.Error(), sdk.ErrBadArgument.Error()); n != 1 {
			t.Errorf("ParseURL(%q): %q says %q %d times", c.url, err, sdk.ErrBadArgument, n)
		}
	}
	for _, c := range []struct {
		url  string
		host string
		port int
	}{
		{"tcp://[2001:db8::1]:4444", "2001:db8::1", 4444},
		{"tcp://[::1]:4444", "::1", 4444},
		{"http://[2001:db8::1]", "2001:db8::1", 80},
		{"tcp://[fe80::1%25lo]:80", "fe80::1%lo", 80},
		{"tcp://[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80},
	} {
		host, port, err := core.ParseURL(c.url)
		if err != nil || host != c.host || port != c.port {
			t.Errorf("ParseURL(%q) = %q, %d, %v; want %q, %d", c.url, host, port, err, c.host, c.port)
		}
	}
	// Brackets hold IPv6 addresses only.
	for _, u := range []string{"tcp://[127.0.0.1]:80", "tcp://[example.test]:80", "tcp://[]:80"} {
		if _, _, err := core.ParseURL(u); !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("ParseURL(%q): %v, want ErrBadArgument", u, err)
		}
	}
}

// writeConfig writes a config file in a test directory.
func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "host.json")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigFileStrict(t *testing.T) {
	const good = `{"log_level": "info", "interfaces": [{"name": "lo1", "driver": "loopback", "settings": {"max_sockets": "3"}}]}`
	fc, err := core.LoadConfigFile(writeConfig(t, good+"\n\n"))
	if err != nil || fc.LogLevel != "info" || len(fc.Interfaces) != 1 || fc.Interfaces[0].Settings["max_sockets"] != "3" {
		t.Fatalf("good file: %+v, %v", fc, err)
	}
	for _, c := range []struct{ name, body, want string }{
		{"trailing garbage", good + " xyz", "after the JSON object"},
		{"second document", good + "\n" + good, "after the JSON object"},
		{"second value", good + " 1", "after the JSON object"},
		{"duplicate top-level key", `{"log_level": "info", "log_level": "debug", "interfaces": []}`, `"log_level" appears twice`},
		{"duplicate interface key", `{"interfaces": [{"name": "lo1", "driver": "loopback", "name": "lo2"}]}`, `"name" appears twice`},
		{"duplicate setting", `{"interfaces": [{"name": "lo1", "driver": "loopback", "settings": {"buffer": "1", "buffer": "2"}}]}`, `"buffer" appears twice`},
		{"unknown log level", `{"log_level": "loudest", "interfaces": []}`, `"loudest"`},
		{"field in another case", `{"Interfaces": []}`, `field "Interfaces": write it "interfaces"`},
		{"same field twice in two cases", `{"log_level": "info", "LOG_LEVEL": "debug"}`, `write it "log_level"`},
		{"nested field in another case", `{"interfaces": [{"Name": "lo1", "driver": "loopback"}]}`, `interfaces[0]: field "Name"`},
		{"unknown nested field", `{"interfaces": [{"name": "lo1", "drivr": "loopback"}]}`, `interfaces[0]: unknown field "drivr"`},
		{"wrong type", `{"interfaces": [{"name": "lo1", "driver": "loopback", "settings": {"buffer": 3}}]}`, "want a string, not a number"},
		{"not an object", `[]`, "want a JSON object"},
		{"empty", ``, "empty"},
		{"syntax", `{"interfaces": [}`, "line 1"},
	} {
		path := writeConfig(t, c.body)
		_, err := core.LoadConfigFile(path)
		if !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("%s: LoadConfigFile accepted %q: %v", c.name, c.body, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q; want the file's path and %q", c.name, msg, c.want)
		}
	}
}

// TestLoadConfigFileNotRegular: a FIFO, a directory or a device is refused
// at once; a FIFO with no writer used to block the host forever.
func TestLoadConfigFileNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, t.TempDir(), "/dev/null"} {
		done := make(chan error, 1)
		go func() {
			_, err := core.LoadConfigFile(path)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, sdk.ErrBadArgument) || !strings.Contains(err.Error(), "not a regular file") {
				t.Errorf("LoadConfigFile(%s): %v; want ErrBadArgument saying it is not a regular file", path, err)
			}
		case <-time.After(5 * time.Second):
			// Unblock the reader so that the test can end.
			if f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
			t.Errorf("LoadConfigFile(%s) blocked for 5s", path)
			<-done
		}
	}
}

// TestHugeInputIsQuotedShort: a 100 KB name, setting or URL host is
// refused with an error that quotes a short prefix and says the size.
func TestHugeInputIsQuotedShort(t *testing.T) {
	huge := strings.Repeat("a", 100_000)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("%s: %v, want ErrBadArgument", what, err)
			return
		}
		if msg := err.Error(); len(msg) > maxErrLen || !strings.Contains(msg, "100000 bytes") {
			t.Errorf("%s: error of %d bytes (want at most %d, saying 100000 bytes): %.300s", what, len(msg), maxErrLen, msg)
		}
	}
	_, err := core.ParseIfaceSpec(huge + "=loopback")
	check("--iface with a huge name", err)
	_, err = core.ParseIfaceSpec("eth0=hostnet,bind=" + huge)
	check("--iface with a huge bind value", err)
	_, err = core.ParseIfaceSpec("eth0=hostnet," + huge + "=1")
	check("--iface with a huge setting name", err)
	_, err = core.ParseIfaceSpec("eth0=" + huge)
	check("--iface with a huge driver name", err)
	_, err = core.ParseIfaceSpec("eth0" + huge[4:])
	check("--iface without =", err)
	_, _, err = core.ParseURL("tcp://" + huge + ":80")
	check("a URL with a huge host", err)
	_, _, err = core.ParseURL("tcp://h.test:" + huge)
	check("a URL with a huge port", err)
	_, _, err = core.ParseURL("tcp://" + huge)
	check("a URL without a port", err)
	_, err = core.LoadConfigFile(writeConfig(t, `{"interfaces": [{"name": "`+huge+`", "driver": "loopback"}]}`))
	check("config file with a huge name", err)
	_, err = core.LoadConfigFile(filepath.Join(t.TempDir(), strings.Repeat("d", 200)))
	if err == nil || len(err.Error()) > maxErrLen {
		t.Errorf("config file with a long missing path: %v", err)
	}
}

// TestSettingSizeLimit: a setting too big for the plugin boundary is a bad
// argument of the definition, not an internal error of the driver.
func TestSettingSizeLimit(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	_, err := core.ParseIfaceSpec("lo0=loopback,buffer=" + big)
	if !errors.Is(err, sdk.ErrBadArgument) || len(err.Error()) > maxErrLen {
		t.Errorf("--iface with a 10 MB setting: %.300v", err)
	}
	// Many settings each within the limit, too much together.
	var b strings.Builder
	b.WriteString("lo0=loopback")
	for i := range 100 {
		fmt.Fprintf(&b, ",k%03d=%s", i, strings.Repeat("v", 1000))
	}
	_, err = core.ParseIfaceSpec(b.String())
	if !errors.Is(err, sdk.ErrBadArgument) || !strings.Contains(err.Error(), "together") {
		t.Errorf("--iface with 100 KB of settings: %.300v", err)
	}

	// Through a real plugin: New or Start fails with ErrBadArgument, not
	// with the gRPC limit's internal error; from the environment too.
	check := func(ic core.IfaceConfig) {
		t.Helper()
		err := startOnce(t, ic)
		if !errors.Is(err, sdk.ErrBadArgument) || strings.Contains(err.Error(), "internal") || len(err.Error()) > maxErrLen {
			t.Errorf("a 10 MB setting: %.300v; want a short ErrBadArgument", err)
		}
	}
	check(core.IfaceConfig{Name: "lo0", Driver: "loopback", Settings: sdk.Settings{"buffer": big}})
	t.Setenv("TEST_BIG_SETTING", big)
	check(core.IfaceConfig{Name: "lo0", Driver: "loopback", Settings: sdk.Settings{"buffer_env": "TEST_BIG_SETTING"}})
}

// startOnce builds a host with ic and starts it, returning the first error.
func startOnce(t *testing.T, ic core.IfaceConfig) error {
	h, err := core.New(core.Config{Interfaces: []core.IfaceConfig{ic}, Builtins: builtins, Logger: testLogger(t)})
	if err != nil {
		return err
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	i, err := h.Interface(ic.Name)
	if err != nil {
		return err
	}
	if err := i.Start(ctx); err != nil {
		return err
	}
	return errors.New("started")
}
