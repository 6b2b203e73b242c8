package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The CLI is tested as a user runs it: the real host binary, built once,
// with real driver plugin processes and real peers from the standard
// library on 127.0.0.1.

var (
	buildOnce sync.Once
	hostBin   string
	buildErr  error
)

// binary builds the host command once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "host-bin-")
		if err != nil {
			buildErr = err
			return
		}
		hostBin = filepath.Join(dir, "host")
		out, err := exec.Command("go", "build", "-o", hostBin, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the host binary: %v", buildErr)
	}
	return hostBin
}

func runHost(t *testing.T, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestDemo(t *testing.T) {
	out, errOut, code := runHost(t, nil, "demo")
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"Opening listening socket on port 4444",
		"Client connected from 127.0.0.1:",
		"Got message from client: [Hello world!]",
		"Got response! Message data: [Hello world!]",
		"Client disconnected!",
		"Demo OK",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestIfaces(t *testing.T) {
	out, errOut, code := runHost(t, nil, "ifaces")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "eth0\thostnet\tup") || !strings.HasPrefix(lines[1], "lo0\tloopback\tup") {
		t.Fatalf("ifaces printed:\n%s", out)
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"connect", "wl9", "127.0.0.1", "80"}, 1, "unknown interface"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"--iface", "lo0", "ifaces"}, 2, "NAME=DRIVER"},
		{[]string{"--iface", "x0=nosuchdriver", "ifaces"}, 1, "unknown driver"},
		{[]string{"--iface", "lo0=loopback,colour=blue", "ifaces"}, 1, "unknown setting colour"},
		{[]string{"connect", "lo0", "tcp://127.0.0.1"}, 1, "bad argument"},
		{[]string{"connect", "lo0", "127.0.0.1", "1"}, 1, "refused"},
		{[]string{"listen", "lo0", "99999"}, 2, "port"},
	} {
		out, errOut, code := runHost(t, strings.NewReader(""), c.args...)
		combined := out + errOut
		if code != c.code || !strings.Contains(combined, c.want) {
			t.Errorf("host %v: exit %d (want %d), output %q (want %q)", c.args, code, c.code, combined, c.want)
			continue
		}
		if code != 0 && strings.Count(strings.TrimSpace(errOut), "\n") > 0 && c.code == 1 {
			t.Errorf("host %v: error is not one line: %q", c.args, errOut)
		}
	}
}

// TestConnectHTTP: host connect eth0 sends an HTTP/1.0 request from stdin
// to the standard library's HTTP server and prints its response.
func TestConnectHTTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from net/http at "+r.URL.Path)
	})}
	go srv.Serve(l)
	defer srv.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	req := "GET /ifsock HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
	for _, args := range [][]string{
		{"connect", "eth0", "127.0.0.1", port},
		{"connect", "eth0", "http://127.0.0.1:" + port},
	} {
		out, errOut, code := runHost(t, strings.NewReader(req), args...)
		if code != 0 {
			t.Fatalf("host %v exited %d: %s", args, code, errOut)
		}
		if !strings.HasPrefix(out, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(out, "hello from net/http at /ifsock") {
			t.Fatalf("host %v printed %q", args, out)
		}
	}
}

// TestListenEcho: host listen --echo eth0 0 listens on a port the driver
// picks, says which on stderr, and echoes a client's 1 MiB exactly.
func TestListenEcho(t *testing.T) {
	b, port := startListen(t, "eth0", "--echo")
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("dial the port host listen printed: %v\n%s", err, b.stderr.String())
	}
	defer c.Close()
	msg := make([]byte, 1<<20)
	_, _ = rand.Read(msg)
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the echo: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("the echo of 1 MiB differs")
	}
	if err := b.stop(t); err != nil {
		t.Errorf("host listen after SIGINT: %v\n%s", err, b.stderr.String())
	}
}

// listenedRE is the line host listen prints on stderr once it listens.
var listenedRE = regexp.MustCompile(`(?m)^listening on (\S+) port ([0-9]+)$`)

// listenedPort returns the port in the "listening on IFACE port P" line of
// host listen's stderr, failing t unless it is there with a port from 1 to
// 65535.
func listenedPort(t *testing.T, stderr string) int {
	t.Helper()
	m := listenedRE.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("host listen printed no \"listening on IFACE port P\" line; stderr:\n%s", stderr)
	}
	p, err := strconv.Atoi(m[2])
	if err != nil || p < 1 || p > 65535 {
		t.Fatalf("host listen printed port %q: want the port it got (1-65535); stderr:\n%s", m[2], stderr)
	}
	return p
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago, for
// peers outside host that must be given a port in advance (socat's
// TCP-LISTEN); host listen takes port 0 and says which port it got.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestPluginDir: a driver found as NAME-plugin in --plugin-dir runs as an
// external plugin binary (the standalone hostnet plugin, under a new name).
func TestPluginDir(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "extnet-plugin"), "../../plugins/hostnet/cmd/hostnet-plugin").CombinedOutput()
	if err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	stdout, errOut, code := runHost(t, nil, "--plugin-dir", dir, "--iface", "x0=extnet", "ifaces")
	if code != 0 || !strings.HasPrefix(stdout, "x0\textnet\tup") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
	// The same plugin serves real sockets: a connect through it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = io.WriteString(c, "from outside")
			c.Close()
		}
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	stdout, errOut, code = runHost(t, strings.NewReader(""), "--plugin-dir", dir, "--iface", "x0=extnet", "connect", "x0", "127.0.0.1", port)
	if code != 0 || stdout != "from outside" {
		t.Fatalf("connect through the external plugin: exit %d, stdout %q, stderr %q", code, stdout, errOut)
	}
}

// TestConfigFile: interfaces from a JSON file, a setting from the
// environment, and a clear error for a bad file.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"interfaces": [
		{"name": "lo1", "driver": "loopback", "settings": {"max_sockets_env": "TEST_LO1_SOCKETS"}},
		{"name": "eth1", "driver": "hostnet", "settings": {"bind": "127.0.0.1"}}
	]}`), 0o600)
	cmd := exec.Command(binary(t), "--config", good, "ifaces")
	cmd.Env = append(os.Environ(), "TEST_LO1_SOCKETS=3")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ifaces with a config file: %v", err)
	}
	if got := string(out); !strings.Contains(got, "eth1\thostnet\tup") || !strings.Contains(got, "lo1\tloopback\tup") {
		t.Fatalf("ifaces printed %q", got)
	}
	// The environment variable is required when the file names it.
	stdout, errOut, code := runHost(t, nil, "--config", good, "ifaces")
	if code != 1 || !strings.Contains(errOut, "TEST_LO1_SOCKETS") {
		t.Fatalf("missing variable: exit %d, %q %q", code, stdout, errOut)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"interfaces": [{"name": "lo1", "drivr": "loopback"}]}`), 0o600)
	_, errOut, code = runHost(t, nil, "--config", bad, "ifaces")
	if code != 1 || !strings.Contains(errOut, `unknown field "drivr"`) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("bad config: exit %d, stderr %q", code, errOut)
	}
}

// TestSimESP8266EndToEnd: host sim esp8266 in the background prints the
// pseudo-terminal's path; a second host opens it as wl0 through the esp8266
// driver (go.bug.st/serial on the pty, the driver in a plugin process) and
// connects to the standard library's HTTP server, whose response it prints.
func TestSimESP8266EndToEnd(t *testing.T) {
	for _, fw := range []string{"1.7", "2.2"} {
		t.Run(fw, func(t *testing.T) {
			sim := exec.Command(binary(t), "sim", "esp8266", "--firmware", fw, "--baud", "921600", "--ssid", "testnet", "--password", "secret")
			stdout, err := sim.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var simErr bytes.Buffer
			sim.Stderr = &simErr
			if err := sim.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				_ = sim.Process.Signal(syscall.SIGINT)
				done := make(chan error, 1)
				go func() { done <- sim.Wait() }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					_ = sim.Process.Kill()
					t.Error("host sim did not stop on SIGINT")
				}
			}()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("reading the device path: %v\n%s", err, simErr.String())
			}
			path := strings.TrimSpace(line)
			if !strings.HasPrefix(path, "/dev/pts/") {
				t.Fatalf("first line of host sim: %q, want a /dev/pts path", line)
			}

			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "hello to the module from net/http")
			})}
			go srv.Serve(l)
			defer srv.Close()
			port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
			iface := "wl0=esp8266,port=" + path + ",baud=921600,ssid=testnet,password_env=TEST_WIFI_PASSWORD"
			cmd := exec.Command(binary(t), "--iface", iface, "connect", "wl0", "127.0.0.1", port)
			cmd.Env = append(os.Environ(), "TEST_WIFI_PASSWORD=secret")
			cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("host connect wl0: %v\nstderr: %s\nsim: %s", err, errOut.String(), simErr.String())
			}
			if got := out.String(); !strings.HasPrefix(got, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(got, "hello to the module from net/http") {
				t.Fatalf("host connect wl0 printed %q", got)
			}
		})
	}
}
