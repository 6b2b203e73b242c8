package core_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/plugins/builtin"
)

var builtins = core.Builtins(builtin.Drivers)

// TestMain lets the test binary serve as the built-in driver plugins: the
// core re-executes it in plugin mode, as it does the host binary.
func TestMain(m *testing.M) {
	core.ServeBuiltin(builtins)
	os.Exit(m.Run())
}

// newHost returns a host whose interfaces run as plugin processes of this
// test binary, closed when the test ends.
func newHost(t testing.TB, ifaces ...core.IfaceConfig) *core.Host {
	t.Helper()
	if ifaces == nil {
		ifaces = []core.IfaceConfig{{Name: "lo0", Driver: "loopback"}, {Name: "eth0", Driver: "hostnet"}}
	}
	h, err := core.New(core.Config{Interfaces: ifaces, Builtins: builtins, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func iface(t testing.TB, h *core.Host, name string) *core.Interface {
	t.Helper()
	i, err := h.Interface(name)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func testLogger(t testing.TB) hclog.Logger {
	level := hclog.Warn
	if testing.Verbose() {
		level = hclog.Debug
	}
	return hclog.New(&hclog.LoggerOptions{Name: "test", Level: level, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
