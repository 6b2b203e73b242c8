package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSim runs `host sim esp8266 ARGS...` and returns the device path it
// serves; the emulator stops at the end of the test.
func startSim(t *testing.T, args ...string) string {
	t.Helper()
	sim := exec.Command(binary(t), append([]string{"sim", "esp8266"}, args...)...)
	stdout, err := sim.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var simErr bytes.Buffer
	sim.Stderr = &simErr
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = sim.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- sim.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = sim.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the device path: %v\n%s", err, simErr.String())
	}
	return strings.TrimSpace(line)
}

// TestConnectESP8266SendAnsweredByClose: the module answers the CIPSEND of
// stdin's bytes with a close instead of its prompt ("<id>,CLOSED" and
// ERROR, in either order): host connect says on stderr that the peer closed
// the link before stdin was delivered, and exits 1.
func TestConnectESP8266SendAnsweredByClose(t *testing.T) {
	for _, c := range []struct{ fw, fault string }{
		{"1.7", "closed-before-prompt"},
		{"1.7", "error-before-closed"},
		{"2.2", "closed-before-prompt"},
	} {
		t.Run(c.fw+"/"+c.fault, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go func() { io.Copy(io.Discard, c); c.Close() }()
				}
			}()
			path := startSim(t, "--firmware", c.fw, "--baud", "921600", "--faults", c.fault, "--fault-rate", "1", "--joined")
			iface := "wl0=esp8266,port=" + path + ",baud=921600"
			_, errOut, code := runHost(t, strings.NewReader("hello, module\n"),
				"--iface", iface, "connect", "wl0", "127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
			// The error is the last line (a driver warning may come first).
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			last := lines[len(lines)-1]
			if code != 1 || !strings.HasPrefix(last, "host: ") {
				t.Fatalf("host connect exited %d (want 1) with stderr %q (want a host: line)", code, errOut)
			}
			errOut = last
			for _, want := range []string{"stdin", "peer closed"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr does not say %q: %q", want, errOut)
				}
			}
		})
	}
}
