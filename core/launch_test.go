package core_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// Helper processes of this test binary, selected by environment variables
// and run from init, before TestMain's ServeBuiltin:
//
//   - envTestHost: a host process that starts lo0 as a plugin, prints
//     "HOSTPID PLUGINPID" on stdout and waits to be killed;
//   - envNoServe: a main that forgot core.ServeBuiltin (started in plugin
//     mode or not): it calls core.New and reports what it returned;
//   - envEnvDump: every plugin process writes its environment into the
//     directory this variable names, then serves as usual.
const (
	envTestHost = "CORETEST_HOST_MODE"
	envNoServe  = "CORETEST_NO_SERVE"
	envEnvDump  = "IFSOCK_TEST_ENV_DUMP"
)

func init() {
	pluginMode := os.Getenv(core.EnvBuiltinDriver) != ""
	if dir := os.Getenv(envEnvDump); dir != "" && pluginMode {
		name := filepath.Join(dir, os.Getenv(core.EnvBuiltinDriver)+"-"+strconv.Itoa(os.Getpid()))
		_ = os.WriteFile(name, []byte(strings.Join(os.Environ(), "\n")), 0o600)
	}
	if os.Getenv(envNoServe) != "" && pluginMode {
		os.Exit(runNoServe())
	}
	if os.Getenv(envNoServe) != "" && !pluginMode {
		os.Exit(runNoServe())
	}
	if os.Getenv(envTestHost) != "" && !pluginMode {
		os.Exit(runTestHost())
	}
}

// runNoServe is the main of a binary that forgot core.ServeBuiltin.
func runNoServe() int {
	h, err := core.New(core.Config{Builtins: builtins})
	if err == nil {
		_ = h.Close()
		fmt.Fprintln(os.Stderr, "core.New succeeded in plugin mode")
		return 3
	}
	fmt.Fprintln(os.Stderr, err)
	if !errors.Is(err, sdk.ErrBadArgument) {
		return 5
	}
	return 4
}

// runTestHost is a host process that a test kills.
func runTestHost() int {
	core.ServeBuiltin(builtins) // as a host's main does first (returns: not in plugin mode)
	h, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "lo0", Driver: "loopback"}}, Builtins: builtins})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lo, _ := h.Interface("lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := lo.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%d %d\n", os.Getpid(), lo.PID())
	time.Sleep(time.Minute) // the test kills it long before
	return 0
}

// procGone reports whether process pid is gone (or a zombie waiting to be
// reaped: it runs no more).
func procGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// shortTempDir is a fresh temp directory with a short path (t.TempDir's
// paths are long enough to matter for Unix socket paths).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ct")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// testHost is a host process started from this test binary.
type testHost struct {
	cmd       *exec.Cmd
	hostPID   int
	pluginPID int
}

// startTestHost starts a host process whose temp directory is tmp. If group
// is set, it runs in a process group of its own (with its plugins). The
// test's cleanup kills it if the test did not.
func startTestHost(t *testing.T, tmp string, group bool) *testHost {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envTestHost+"=1", "TMPDIR="+tmp)
	cmd.Stderr = os.Stderr
	if group {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	th := &testHost{cmd: cmd}
	t.Cleanup(func() {
		if group {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line := make(chan string, 1)
	go func() { // ends when the host's stdout closes (the cleanup kills it)
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if _, err := fmt.Sscanf(s, "%d %d", &th.hostPID, &th.pluginPID); err != nil || th.pluginPID == 0 {
			t.Fatalf("test host said %q, want HOSTPID PLUGINPID", s)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the test host did not start its plugin within 30s")
	}
	return th
}

// waitGone waits up to limit for pid to be gone and returns how long it took.
func waitGone(t *testing.T, pid int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for !procGone(pid) {
		if time.Since(start) > limit {
			t.Fatalf("process %d still runs %v after its host was killed", pid, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// entries lists dir's entries, recursively, as paths relative to dir.
func entries(dir string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestHostKilledTakesPluginsDown: a host process killed by SIGKILL takes its
// plugin down within a second, and leaves nothing behind in its temp
// directory (issue 9, items 3 and 4).
func TestHostKilledTakesPluginsDown(t *testing.T) {
	tmp := shortTempDir(t)
	th := startTestHost(t, tmp, false)
	if len(entries(tmp)) == 0 {
		t.Fatal("the host made no socket directory in its TMPDIR (test broken?)")
	}
	if err := syscall.Kill(th.hostPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = th.cmd.Wait()
	took := waitGone(t, th.pluginPID, time.Second)
	t.Logf("plugin gone %v after its host was SIGKILLed", took)
	deadline := time.Now().Add(2 * time.Second)
	for len(entries(tmp)) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if left := entries(tmp); len(left) != 0 {
		t.Errorf("%d files left in TMPDIR after the host was SIGKILLed: %v", len(left), left)
	}
}

// TestStaleDirsOfDeadHostsRemoved: when a host and its plugins die together
// (SIGKILL of the process group), no one is left to clean up; the next host
// to start removes the directories of dead hosts, and only those.
func TestStaleDirsOfDeadHostsRemoved(t *testing.T) {
	tmp := shortTempDir(t)
	dead := startTestHost(t, tmp, true)
	deadDirs := entries(tmp)
	if len(deadDirs) == 0 {
		t.Fatal("the host made no socket directory in its TMPDIR (test broken?)")
	}
	if err := syscall.Kill(-dead.hostPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = dead.cmd.Wait()
	waitGone(t, dead.pluginPID, time.Second)
	var stale []string
	for _, e := range entries(tmp) {
		if !strings.Contains(e, string(filepath.Separator)) {
			stale = append(stale, e)
		}
	}
	t.Logf("left by a host and plugin killed together: %v", entries(tmp))

	live := startTestHost(t, tmp, false)
	var liveDirs []string
	for _, e := range entries(tmp) {
		if !strings.Contains(e, string(filepath.Separator)) && !contains(stale, e) {
			liveDirs = append(liveDirs, e)
		}
	}
	if len(liveDirs) == 0 {
		t.Fatal("the live host's socket directory is missing")
	}

	// A third host starts in the same temp directory.
	t.Setenv("TMPDIR", tmp)
	h := newHost(t, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := iface(t, h, "lo0").Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range stale {
		if _, err := os.Stat(filepath.Join(tmp, d)); err == nil {
			t.Errorf("%s of a dead host is still there after another host started", d)
		}
	}
	for _, d := range liveDirs {
		if _, err := os.Stat(filepath.Join(tmp, d)); err != nil {
			t.Errorf("%s of a live host was removed: %v", d, err)
		}
	}
	if procGone(live.pluginPID) {
		t.Error("the live host's plugin died")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPluginSurvivesLockedThreadExit: a driver started from a goroutine that
// locked its OS thread and returned without unlocking (the thread exits with
// it) keeps running. With the parent-death signal, the kernel killed it:
// the signal belongs to the thread that forked (golang/go#27505).
func TestPluginSurvivesLockedThreadExit(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	lo := iface(t, h, "lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		started <- lo.Start(ctx)
	}()
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	pid := lo.PID()
	time.Sleep(500 * time.Millisecond)
	if procGone(pid) {
		t.Fatalf("plugin %d died when the thread that started it exited", pid)
	}
	if now := lo.PID(); now != pid {
		t.Fatalf("plugin restarted (pid %d, was %d): the first one died with its thread", now, pid)
	}
	l, err := lo.Listen(ctx, 7300, core.Handlers{}, nil)
	if err != nil {
		t.Fatalf("listen after the starting thread exited: %v", err)
	}
	_ = l.Close()
}

// TestLongTempDir: drivers start whatever the length of TMPDIR; the temp
// directory is left clean once the host is closed.
func TestLongTempDir(t *testing.T) {
	for _, n := range []int{58, 80, 200} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			base := shortTempDir(t)
			long := base + "/" + strings.Repeat("t", n-len(base)-1)
			if err := os.Mkdir(long, 0o700); err != nil {
				t.Fatal(err)
			}
			t.Setenv("TMPDIR", long)
			h, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "lo0", Driver: "loopback"}}, Builtins: builtins, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			lo := iface(t, h, "lo0")
			if err := lo.Start(ctx); err != nil {
				_ = h.Close()
				t.Fatalf("TMPDIR of %d bytes: %v", len(long), err)
			}
			l, err := lo.Listen(ctx, 7301, core.Handlers{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = l.Close()
			_ = h.Close()
			if left := entries(long); len(left) != 0 {
				t.Errorf("left in TMPDIR after Close: %v", left)
			}
		})
	}
}

// TestNewInPluginModeFails: a binary that forgot core.ServeBuiltin gets an
// error from core.New at once that says what to add to main, rather than
// re-executing itself in a chain: in plugin mode (the chain's second
// link), and as a host about to run a built-in driver (its first).
func TestNewInPluginModeFails(t *testing.T) {
	t.Run("plugin mode", func(t *testing.T) { testNoServe(t, core.EnvBuiltinDriver+"=loopback") })
	t.Run("host", func(t *testing.T) { testNoServe(t) })
}

func testNoServe(t *testing.T, env ...string) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(append(os.Environ(), envNoServe+"=1"), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != 4 {
		t.Fatalf("exit %d (%v), stderr %q; want core.New to fail with a bad-argument error", code, err, stderr.String())
	}
	if msg := stderr.String(); !strings.Contains(msg, "core.ServeBuiltin(builtin.Drivers)") {
		t.Errorf("error %q does not say to call core.ServeBuiltin(builtin.Drivers) first in main", msg)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

// TestPluginEnvironment: a plugin process gets a minimal environment, not
// the host's: no unrelated secret, not even the variable a setting of its
// own names (the host resolves _env settings and sends the value).
func TestPluginEnvironment(t *testing.T) {
	dump := t.TempDir()
	t.Setenv(envEnvDump, dump)
	t.Setenv("WIFI_PASSWORD", "hunter2-secret")
	t.Setenv("DEPLOY_TOKEN", "tok-secret")
	t.Setenv("LC_ALL", "C")
	h := newHost(t,
		core.IfaceConfig{Name: "lo0", Driver: "loopback"},
		core.IfaceConfig{Name: "eth0", Driver: "hostnet"},
		core.IfaceConfig{Name: "wl0", Driver: "esp8266", Settings: sdk.Settings{"port": filepath.Join(dump, "no-such-tty"), "ssid": "x", "password_env": "WIFI_PASSWORD"}},
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, name := range []string{"lo0", "eth0"} {
		if err := iface(t, h, name).Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_ = iface(t, h, "wl0").Start(ctx) // no serial port: Open fails, the process ran
	files, _ := filepath.Glob(filepath.Join(dump, "*"))
	if len(files) < 3 {
		t.Fatalf("%d plugin environments written, want 3 (%v)", len(files), files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		env := strings.Split(string(b), "\n")
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			if strings.Contains(v, "secret") || k == "WIFI_PASSWORD" || k == "DEPLOY_TOKEN" {
				t.Errorf("%s: plugin environment has %s", filepath.Base(f), kv)
			}
		}
		for _, want := range []string{"PATH", "LC_ALL", "IFSOCK_PLUGIN", core.EnvBuiltinDriver} {
			if !hasVar(env, want) {
				t.Errorf("%s: plugin environment lacks %s", filepath.Base(f), want)
			}
		}
		t.Logf("%s: %d variables", filepath.Base(f), len(env))
	}
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}
