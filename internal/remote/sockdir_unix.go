//go:build unix

package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A plugin's socket directory (socketDirPrefix + random, mode 0700) holds its
// go-plugin control socket and its data socket: the directory's mode is what
// keeps other users from connecting to either. The host that made it holds
// an exclusive flock on its lock file (lockName) for as long as it may use
// it, so a directory whose lock anyone can take belongs to a dead host.

// lockName is the lock file in a socket directory.
const lockName = "lock"

// socketDir is a plugin's socket directory, owned by the host.
type socketDir struct {
	path string
	lock *os.File // flocked until remove
}

// newSocketDir makes a socket directory in base, locked, after removing
// the stale ones of dead hosts from base (once per base and process).
func newSocketDir(base string) (*socketDir, error) {
	sweepOnce(base)
	for range 10 {
		dir, err := os.MkdirTemp(base, socketDirPrefix)
		if err != nil {
			return nil, err
		}
		lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
			lock.Close()
			_ = os.RemoveAll(dir)
			return nil, err
		}
		// Another host's sweep may have taken the lock between the
		// creation and the flock, and removed the directory: start again.
		if sameFile(lock, filepath.Join(dir, lockName)) {
			return &socketDir{path: dir, lock: lock}, nil
		}
		lock.Close()
	}
	return nil, errors.New("the socket directory kept disappearing while it was made")
}

// remove removes the directory, then lets go of its lock.
func (d *socketDir) remove() {
	_ = os.RemoveAll(d.path)
	_ = d.lock.Close()
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Lstat(path)
	return err == nil && os.SameFile(a, b)
}

var swept struct {
	sync.Mutex
	bases map[string]bool
}

// sweepOnce removes the socket directories of dead hosts from base, the
// first time this process makes a socket directory there.
func sweepOnce(base string) {
	swept.Lock()
	defer swept.Unlock()
	if swept.bases[base] {
		return
	}
	if swept.bases == nil {
		swept.bases = make(map[string]bool)
	}
	swept.bases[base] = true
	sweep(base)
}

// sweep removes the socket directories in base that provably belong to a
// dead host: ours (same owner), with a lock file whose flock nobody holds.
// A directory without a lock file (made by an older host, or being made
// now) is left alone. It returns the directories removed.
func sweep(base string) []string {
	ents, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var removed []string
	uid := os.Getuid()
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), socketDirPrefix) {
			continue
		}
		dir := filepath.Join(base, e.Name())
		if st, err := os.Lstat(dir); err != nil || !st.IsDir() || ownerOf(st) != uid {
			continue
		}
		lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if errors.Is(err, os.ErrNotExist) && legacyDead(dir) {
			if os.RemoveAll(dir) == nil {
				removed = append(removed, dir)
			}
			continue
		}
		if err != nil {
			continue
		}
		if unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil && sameFile(lock, filepath.Join(dir, lockName)) {
			if os.RemoveAll(dir) == nil {
				removed = append(removed, dir)
			}
		}
		lock.Close()
	}
	return removed
}

// legacyAge is how old a socket directory without a lock file (made by a
// host of an earlier version) must be before legacyDead looks at it: older
// than any start (go-plugin's start timeout is seconds).
const legacyAge = 10 * time.Minute

// legacyDead reports whether dir, a socket directory without a lock file,
// provably belongs to a dead plugin: it is older than legacyAge and holds
// go-plugin sockets ("plugin" + digits), all of which refuse connections
// (nobody listens on them any more). A directory being made now is young;
// a live plugin's socket accepts. Only go-plugin's sockets are dialled,
// never a data socket (a live plugin accepts one connection there).
func legacyDead(dir string) bool {
	st, err := os.Lstat(dir)
	if err != nil || time.Since(st.ModTime()) < legacyAge {
		return false
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	sockets := 0
	for _, e := range ents {
		if e.Type()&os.ModeSocket == 0 || !strings.HasPrefix(e.Name(), "plugin") {
			continue
		}
		sockets++
		c, err := net.DialTimeout("unix", filepath.Join(dir, e.Name()), time.Second)
		if err == nil {
			c.Close()
			return false
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return false
		}
	}
	return sockets > 0
}

func ownerOf(st os.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}

// maxSocketPath is the longest Unix socket path used (the kernel's limit
// is 108 bytes with the terminating zero; leave a margin).
const maxSocketPath = 104

// socketPathRoom is what a socket directory and the longest socket in it add
// to the base directory's path: "/ifsock-plugin-" and 10 random digits,
// then go-plugin's "/plugin" and 10 random digits (the data socket's
// "/d" + 10 digits + "/d" is shorter).
const socketPathRoom = 1 + len(socketDirPrefix) + 10 + 1 + len("plugin") + 10

// socketBase picks the directory in which to make socket directories: the
// temp directory if its path leaves room for a socket path, else the first
// short one of $XDG_RUNTIME_DIR, /tmp, /var/tmp and /dev/shm that is a
// directory. Any of them is safe: the socket directory made in it has mode
// 0700 and a random name that mkdir refuses to reuse.
func socketBase() (string, error) {
	tmp := os.TempDir()
	if abs, err := filepath.Abs(tmp); err == nil {
		tmp = abs
	}
	candidates := []string{tmp, os.Getenv("XDG_RUNTIME_DIR"), "/tmp", "/var/tmp", "/dev/shm"}
	for _, c := range candidates {
		if c == "" || !filepath.IsAbs(c) || len(c)+socketPathRoom > maxSocketPath {
			continue
		}
		if st, err := os.Stat(c); err == nil && st.IsDir() && unix.Access(c, unix.W_OK|unix.X_OK) == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no writable temp directory has a path short enough for Unix sockets (%s is %d bytes, at most %d fit): set TMPDIR to a shorter writable directory", tmp, len(tmp), maxSocketPath-socketPathRoom)
}
