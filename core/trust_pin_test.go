package core_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/internal/remote"
	"github.com/ifsock/ifsock/sdk"
)

// TestPluginPin: an external plugin pinned by its SHA-256 runs; one whose
// binary has another sum does not, whether it was swapped before New or
// after; a malformed pin or a pin on a built-in driver is a bad config.
func TestPluginPin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := scriptPlugin(t, dir, "ext")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])
	cfg := func(pin string) core.Config {
		return core.Config{
			Interfaces:   []core.IfaceConfig{{Name: "x0", Driver: "ext"}},
			PluginDir:    dir,
			Builtins:     builtins,
			Logger:       testLogger(t),
			PluginSHA256: map[string]string{"ext": pin},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	h, err := core.New(cfg(good))
	if err != nil {
		t.Fatalf("right pin: %v", err)
	}
	defer h.Close()
	x0 := iface(t, h, "x0")
	if err := x0.Start(ctx); err != nil {
		t.Fatalf("right pin: start: %v", err)
	}

	wrong := strings.Repeat("0", 64)
	if _, err := core.New(cfg(wrong)); !errors.Is(err, sdk.ErrBadArgument) || !strings.Contains(err.Error(), "pin") {
		t.Errorf("wrong pin: New gave %v, want a bad argument about the pin", err)
	}
	for _, bad := range []string{"abc", strings.Repeat("g", 64), ""} {
		if _, err := core.New(cfg(bad)); !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("malformed pin %q: New gave %v, want a bad argument", bad, err)
		}
	}
	c := cfg(good)
	c.PluginSHA256 = map[string]string{"loopback": good}
	if _, err := core.New(c); !errors.Is(err, sdk.ErrBadArgument) {
		t.Errorf("pin on a built-in driver: New gave %v, want a bad argument", err)
	}

	// The binary is swapped after New: the next start refuses it.
	h2, err := core.New(cfg(good))
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if err := os.WriteFile(bin, append(b, []byte("# swapped\n")...), 0o755); err != nil {
		t.Fatal(err)
	}
	err = iface(t, h2, "x0").Start(ctx)
	if !errors.Is(err, sdk.ErrBadArgument) || !strings.Contains(err.Error(), "pin") {
		t.Errorf("swapped binary: start gave %v, want a bad argument about the pin", err)
	}
}

// TestLaunchChecksPin: the last check, go-plugin's SecureConfig right before
// the start, refuses a binary that does not match, as a bad argument.
func TestLaunchChecksPin(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plugins")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := scriptPlugin(t, dir, "ext")
	_, err := remote.Launch(remote.LaunchConfig{Cmd: exec.Command(bin), SHA256: make([]byte, sha256.Size)})
	if !errors.Is(err, sdk.ErrBadArgument) || !strings.Contains(err.Error(), "pin") {
		t.Fatalf("launch with a wrong pin: %v, want a bad argument about the pin", err)
	}
	b, _ := os.ReadFile(bin)
	sum := sha256.Sum256(b)
	d, err := remote.Launch(remote.LaunchConfig{Cmd: exec.Command(bin), SHA256: sum[:]})
	if err != nil {
		t.Fatalf("launch with the right pin: %v", err)
	}
	_ = d.Close(context.Background())
}
