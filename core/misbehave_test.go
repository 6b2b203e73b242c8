package core_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// crashDriver is loopback, except that connecting to the host "crash"
// kills the plugin process in the middle of the call.
type crashDriver struct{ *loopback.Driver }

func (d crashDriver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	if req.Host == "crash" {
		os.Exit(3)
	}
	return d.Driver.Connect(ctx, req)
}

func init() {
	builtins["crash"] = func() sdk.Driver { return crashDriver{loopback.New()} }
	// A plugin that writes to stdout before the handshake, as a library
	// printing at start-up would.
	builtins["noisy"] = func() sdk.Driver {
		fmt.Println("hello from a driver that should not print")
		return loopback.New()
	}
}

// TestPluginCrashMidCall: a plugin that dies inside a call fails that call
// with ErrDriverExited; the host goes on and the next call works on a
// restarted driver.
func TestPluginCrashMidCall(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "x0", Driver: "crash"})
	x := iface(t, h, "x0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := x.Connect(ctx, "crash", 80, core.Handlers{}, nil)
	if !errors.Is(err, sdk.ErrDriverExited) {
		t.Fatalf("connect that crashes the plugin: %v, want ErrDriverExited", err)
	}
	if _, err := x.Listen(ctx, 9100, core.Handlers{}, nil); err != nil {
		t.Fatalf("listen after the crash: %v", err)
	}
	if _, err := x.Connect(ctx, "127.0.0.1", 9100, core.Handlers{}, nil); err != nil {
		t.Fatalf("connect after the crash: %v", err)
	}
}

// TestPluginBadHandshake: a plugin that breaks go-plugin's handshake (it
// printed to stdout first) fails to start with a clear error, at once, and
// the host goes on.
func TestPluginBadHandshake(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "x0", Driver: "noisy"}, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := iface(t, h, "x0").Start(ctx)
	if err == nil {
		t.Fatal("a plugin that broke the handshake started")
	}
	if !errors.Is(err, sdk.ErrDriverExited) {
		t.Errorf("start error %v, want ErrDriverExited", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the failed start took %v", d)
	}
	if st, _ := iface(t, h, "x0").State(); st != core.Failed {
		t.Errorf("state %v, want failed", st)
	}
	if err := iface(t, h, "lo0").Start(ctx); err != nil {
		t.Fatalf("another interface after the failed start: %v", err)
	}
	t.Logf("the error a user sees: %v", err)
}
