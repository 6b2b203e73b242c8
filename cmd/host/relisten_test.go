package main

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
)

// listening is a running `host listen`.
type listening struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	port   int
}

func startRelistener(t *testing.T, args ...string) *listening {
	t.Helper()
	cmd := exec.Command(binary(t), append(args, "0")...)
	ln := &listening{cmd: cmd, stderr: newSyncBuffer()}
	cmd.Stderr = ln.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("host listen stderr:\n%s", ln.stderr.String())
		}
	})
	ln.waitFor(t, "listening on", 30*time.Second)
	ln.waitFor(t, "\n", time.Second)
	ln.port = listenedPort(t, ln.stderr.String())
	return ln
}

// waitFor waits until stderr holds text.
func (ln *listening) waitFor(t *testing.T, text string, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(ln.stderr.String(), text) {
			return
		}
	}
	t.Fatalf("host listen did not say %q within %v; stderr:\n%s", text, within, ln.stderr.String())
}

// echo dials the listener (retrying while it is not there) and checks that
// msg comes back.
func (ln *listening) echo(t *testing.T, msg string) {
	t.Helper()
	var c net.Conn
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ln.port)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("dial host listen: %v", err)
	}
	defer c.Close()
	c.Write([]byte(msg))
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: got %q, %v", msg, got, err)
	}
}

// stop interrupts host listen and checks that it exits 0.
func (ln *listening) stop(t *testing.T) {
	t.Helper()
	_ = ln.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- ln.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("host listen after SIGINT: %v", err)
		}
	case <-time.After(15 * time.Second):
		_ = ln.cmd.Process.Kill()
		t.Error("host listen did not stop on SIGINT")
	}
}

// killPlugins kills the plugin processes (the children) of pid.
func killPlugins(t *testing.T, pid int) {
	t.Helper()
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	killed := 0
	for _, task := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/children")
		for _, f := range strings.Fields(string(b)) {
			if child, err := strconv.Atoi(f); err == nil && syscall.Kill(child, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	if killed == 0 {
		t.Fatalf("no plugin process of host %d to kill", pid)
	}
}

// TestListenAfterModuleReset (issue 8, item 6): the ESP8266 resets while
// serving (the emulator's reset-serving fault: wdt reset, boot garbage,
// ready; links and server gone, CIPSERVER off): host listen says its
// listener was dropped, listens again, and serves the next client.
func TestListenAfterModuleReset(t *testing.T) {
	for _, fw := range []string{"1.7", "2.2"} {
		t.Run(fw, func(t *testing.T) {
			path := startSim(t, "--firmware", fw, "--baud", "921600", "--faults", "reset-serving", "--joined")
			ln := startRelistener(t, "--iface", "wl0=esp8266,port="+path+",baud=921600", "listen", "--echo", "wl0")
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(ln.port))
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("this data resets the module"))
			defer c.Close()
			ln.waitFor(t, "dropped", 20*time.Second)
			ln.waitFor(t, "listening again on wl0", 30*time.Second)
			ln.echo(t, "served after the reset")
			ln.stop(t)
		})
	}
}

// TestListenAfterPluginDies (issue 8, item 6): the driver process dies
// (SIGKILL); core drops its sockets with ErrDriverExited and starts it
// again on the next call: host listen listens again and serves, for wl0
// (the ESP8266 on the emulator) and eth0.
func TestListenAfterPluginDies(t *testing.T) {
	for _, c := range []struct{ name, iface string }{{"eth0", ""}, {"wl0", "esp8266"}} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"listen", "--echo", c.name}
			if c.iface != "" {
				path := startSim(t, "--firmware", "2.2", "--baud", "921600", "--joined")
				args = append([]string{"--iface", "wl0=esp8266,port=" + path + ",baud=921600"}, args...)
			}
			ln := startRelistener(t, args...)
			ln.echo(t, "before")
			killPlugins(t, ln.cmd.Process.Pid)
			ln.waitFor(t, "dropped", 20*time.Second)
			ln.waitFor(t, "listening again on "+c.name, 30*time.Second)
			ln.echo(t, "after the driver restarted")
			ln.stop(t)
		})
	}
}

// TestListenGivesUp (issue 8, item 6): when the listener is dropped and the
// interface cannot listen again (the module is gone: its serial port
// failed), host listen retries for 30 s, says why, and exits 1.
func TestListenGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("waits the 30 s host listen retries for")
	}
	t.Parallel()
	emu, err := emulator.New(emulator.Config{Firmware: emulator.Firmware22, Baud: 921600, Joined: true})
	if err != nil {
		t.Fatal(err)
	}
	path, stopSim, err := emu.ServePTY(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer stopSim()
	ln := startRelistener(t, "--iface", "wl0=esp8266,port="+path+",baud=921600", "listen", "--echo", "wl0")
	ln.echo(t, "served")
	start := time.Now()
	_ = stopSim() // the module is gone for good
	ln.waitFor(t, "dropped", 20*time.Second)
	done := make(chan error, 1)
	go func() { done <- ln.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Errorf("host listen ended with %v, want exit status 1", err)
		}
		if d := time.Since(start); d < 25*time.Second {
			t.Errorf("host listen gave up after %v, want about 30 s of retries", d)
		}
		if !strings.Contains(ln.stderr.String(), "again within 30s") {
			t.Errorf("stderr does not say it could not listen again within 30s:\n%s", ln.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("host listen still runs 60 s after its module went away:\n%s", ln.stderr.String())
	}
}
