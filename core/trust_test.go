package core_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// scriptPlugin writes dir/NAME-plugin: a shell script that runs this test
// binary as the loopback driver, an external plugin as good as any.
func scriptPlugin(t *testing.T, dir, name string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+"-plugin")
	script := fmt.Sprintf("#!/bin/sh\n%s=loopback exec '%s'\n", core.EnvBuiltinDriver, exe)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

// TestDriverNameMustBePlain: a driver name is a plain name, never a path
// out of the plugin directory, from --iface and config files alike.
func TestDriverNameMustBePlain(t *testing.T) {
	root := t.TempDir()
	pluginDir := filepath.Join(root, "d")
	other := filepath.Join(root, "o")
	for _, d := range []string{pluginDir, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	scriptPlugin(t, other, "evil")
	scriptPlugin(t, pluginDir, "good")
	for _, driver := range []string{"../o/evil", "o/../../o/evil", filepath.Join(other, "evil"), ".", "..", ".hidden", "-x", "a b", "evil\x00"} {
		_, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "x0", Driver: driver}}, PluginDir: pluginDir, Builtins: builtins})
		if err == nil {
			t.Errorf("driver %q accepted", driver)
			continue
		}
		if !errors.Is(err, sdk.ErrBadArgument) || !strings.Contains(err.Error(), "plain name") {
			t.Errorf("driver %q: %v, want a bad argument asking for a plain name", driver, err)
		}
	}
	h, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "x0", Driver: "good"}}, PluginDir: pluginDir, Builtins: builtins})
	if err != nil {
		t.Fatalf("a plain name: %v", err)
	}
	_ = h.Close()
}

// TestPluginWritableByOthersRefused: a plugin directory or binary that
// another user could write to (or that someone else owns) is refused.
func TestPluginWritableByOthersRefused(t *testing.T) {
	for _, tc := range []struct {
		name            string
		dirMode, binary os.FileMode
	}{
		{"dir world-writable", 0o777, 0o755},
		{"dir group-writable", 0o775, 0o755},
		{"binary world-writable", 0o755, 0o757},
		{"binary group-writable", 0o755, 0o775},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plugins")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			bin := scriptPlugin(t, dir, "ext")
			if err := os.Chmod(bin, tc.binary); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, tc.dirMode); err != nil {
				t.Fatal(err)
			}
			_, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "x0", Driver: "ext"}}, PluginDir: dir, Builtins: builtins})
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, sdk.ErrBadArgument) || !strings.Contains(err.Error(), "writable") {
				t.Errorf("%v: want a bad argument saying what is writable", err)
			}
			t.Log(err)
		})
	}
}
