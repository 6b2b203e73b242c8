//go:build unix

package remote

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSweepRemovesOnlyDeadHostsDirs: the sweep removes socket directories
// whose lock nobody holds, and old lock-less ones (an earlier version's)
// whose sockets nobody listens on; it keeps the directories of live hosts
// and plugins, young lock-less ones, and anything not ours.
func TestSweepRemovesOnlyDeadHostsDirs(t *testing.T) {
	base, err := os.MkdirTemp("", "sw")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	old := time.Now().Add(-time.Hour)

	live, err := newSocketDir(base) // this host holds its lock
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	dead, err := newSocketDir(base)
	if err != nil {
		t.Fatal(err)
	}
	_ = dead.lock.Close() // as if its host died

	legacy := func(name string, listening bool, mtime time.Time) string {
		dir := filepath.Join(base, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "plugin123"), Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		if listening {
			t.Cleanup(func() { l.Close() })
		} else {
			l.SetUnlinkOnClose(false)
			l.Close()
		}
		if err := os.Chtimes(dir, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	legacyDeadDir := legacy(socketDirPrefix+"1", false, old)
	legacyLive := legacy(socketDirPrefix+"2", true, old)
	legacyYoung := legacy(socketDirPrefix+"3", false, time.Now())
	other := filepath.Join(base, "something-else")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(other, old, old); err != nil {
		t.Fatal(err)
	}

	removed := sweep(base)
	want := map[string]bool{dead.path: true, legacyDeadDir: true}
	for _, d := range removed {
		if !want[d] {
			t.Errorf("removed %s", d)
		}
		delete(want, d)
	}
	for d := range want {
		t.Errorf("kept %s", d)
	}
	for _, d := range []string{live.path, legacyLive, legacyYoung, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if len(sweep(base)) != 0 {
		t.Error("a second sweep removed something")
	}
}
