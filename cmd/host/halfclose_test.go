package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Half-close (design rule 11) through the CLI, against the peers users
// reach for: socat and OpenBSD netcat (nc -N), real processes on
// 127.0.0.1 talking to the host binary's eth0. lo0 is not tested here: each
// host process runs its own lo0, so a `host listen lo0` and a `host connect
// lo0` cannot reach each other, and nothing outside a host process can
// reach an lo0 socket at all.

// needPeers fails the test when a peer program is missing: a test that
// passes because a tool is missing proves nothing. CI installs them (.ci/run).
func needPeers(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("socat"); err != nil {
		t.Fatal("socat is not installed: install it (apt-get install socat; .ci/run does) to run the half-close tests")
	}
	if _, err := exec.LookPath("nc"); err != nil {
		t.Fatal("nc is not installed: install OpenBSD netcat (apt-get install netcat-openbsd; .ci/run does) to run the half-close tests")
	}
	help, _ := exec.Command("nc", "-h").CombinedOutput()
	if !bytes.Contains(help, []byte("after EOF on stdin")) {
		t.Fatal("nc has no -N (shutdown after EOF on stdin): install OpenBSD netcat (apt-get install netcat-openbsd)")
	}
}

// syncBuffer collects a child's output; wait blocks until it contains a
// string.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	change chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{change: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.change)
	b.change = make(chan struct{})
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// wait reports whether s appeared before exited was closed or d passed.
func (b *syncBuffer) wait(s string, exited <-chan struct{}, d time.Duration) bool {
	timeout := time.After(d)
	for {
		b.mu.Lock()
		found, ch := strings.Contains(b.b.String(), s), b.change
		b.mu.Unlock()
		if found {
			return true
		}
		select {
		case <-ch:
		case <-exited:
			return strings.Contains(b.String(), s)
		case <-timeout:
			return false
		}
	}
}

// background is a child process running while a test talks to it.
type background struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	exited         chan struct{}
	err            error // set when exited is closed
}

func startBackground(t *testing.T, name string, args ...string) *background {
	t.Helper()
	b := &background{cmd: exec.Command(name, args...), stdout: newSyncBuffer(), stderr: newSyncBuffer(), exited: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = b.stdout, b.stderr
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b.err = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.exited
	})
	return b
}

// stop interrupts the process and waits for it; it reports the exit error.
func (b *background) stop(t *testing.T) error {
	t.Helper()
	_ = b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.exited:
		return b.err
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
		return fmt.Errorf("did not stop within 15s of SIGINT")
	}
}

// startListen runs `host listen ARGS... IFACE 0` and returns once it
// listens, with the port it printed (the one the driver picked).
func startListen(t *testing.T, iface string, args ...string) (*background, int) {
	t.Helper()
	args = append(append([]string{"listen"}, args...), iface, "0")
	b := startBackground(t, binary(t), args...)
	if !b.stderr.wait("listening on", b.exited, 20*time.Second) || !b.stderr.wait("\n", b.exited, time.Second) {
		t.Fatalf("host %v did not start listening (exit: %v)\nstderr:\n%s", args, b.err, b.stderr.String())
	}
	return b, listenedPort(t, b.stderr.String())
}

// client runs a peer program with stdin as its input and returns what it
// printed (hashed when large) and how it exited.
type clientResult struct {
	n    int64
	sum  [sha256.Size]byte
	text string // the output itself when short
	err  error
	took time.Duration
}

func runClient(stdin []byte, name string, args ...string) clientResult {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	h := sha256.New()
	var head bytes.Buffer
	cw := &countWriter{}
	cmd.Stdout = io.MultiWriter(h, cw, &limitWriter{w: &head, n: 4096})
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	r := clientResult{n: cw.n, text: head.String(), took: time.Since(start)}
	copy(r.sum[:], h.Sum(nil))
	if err != nil {
		r.err = fmt.Errorf("%s %v: %v (stderr %q)", name, args, err, errb.String())
	}
	return r
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if k := min(l.n, len(p)); k > 0 {
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// halfCloseClients are the peers that send, half-close, and print what
// comes back until the server closes.
var halfCloseClients = []struct {
	name string
	args func(port int) []string
}{
	{"socat", func(port int) []string {
		return []string{"-t", "30", "-", "TCP:127.0.0.1:" + strconv.Itoa(port)}
	}},
	{"nc", func(port int) []string { return []string{"-N", "127.0.0.1", strconv.Itoa(port)} }},
}

// TestListenEchoHalfClose: a client sends everything, half-closes, and
// gets every byte back before `host listen --echo eth0` closes: 10 MiB of
// random bytes several times, and a short line many times (the old bug
// lost hundreds of KiB of the tail, or the whole line, closing at the FIN).
func TestListenEchoHalfClose(t *testing.T) {
	needPeers(t)
	const rounds, hellos = 5, 20
	big := randomBytes(t, 10<<20)
	want := sha256.Sum256(big)
	for _, c := range halfCloseClients {
		t.Run(c.name, func(t *testing.T) {
			srv, port := startListen(t, "eth0", "--echo")
			for i := range rounds {
				r := runClient(big, c.name, c.args(port)...)
				if r.err != nil || r.n != int64(len(big)) || r.sum != want {
					t.Errorf("10 MiB round %d: got back %d bytes (want %d), same bytes: %v, in %v; client: %v",
						i, r.n, len(big), r.sum == want, r.took.Round(time.Millisecond), r.err)
				}
			}
			for i := range hellos {
				r := runClient([]byte("hello\n"), c.name, c.args(port)...)
				if r.err != nil || r.text != "hello\n" {
					t.Errorf("hello round %d: got back %q in %v; client: %v", i, r.text, r.took.Round(time.Millisecond), r.err)
				}
			}
			if err := srv.stop(t); err != nil {
				t.Errorf("host listen: %v", err)
			}
			if log := srv.stderr.String(); strings.Contains(log, "echo to") || strings.Contains(log, "not open") {
				t.Errorf("host listen reported failed echoes:\n%s", log)
			}
		})
	}
}

// TestListenPrintsThenCloses: without --echo, host listen prints what
// arrives and closes the socket when the peer finished, so a client that
// half-closes ends at once with nothing back.
func TestListenPrintsThenCloses(t *testing.T) {
	needPeers(t)
	srv, port := startListen(t, "eth0")
	msg := "one line from nc\n"
	r := runClient([]byte(msg), "nc", "-N", "127.0.0.1", strconv.Itoa(port))
	if r.err != nil || r.n != 0 {
		t.Errorf("nc -N: %d bytes back (want none), client: %v", r.n, r.err)
	}
	if r.took > 10*time.Second {
		t.Errorf("nc -N took %v: host listen did not close when the peer finished", r.took)
	}
	if err := srv.stop(t); err != nil {
		t.Errorf("host listen: %v\n%s", err, srv.stderr.String())
	}
	if got := srv.stdout.String(); got != msg {
		t.Errorf("host listen printed %q, want %q", got, msg)
	}
}

// TestConnectHalfClose: `host connect eth0 127.0.0.1 PORT < file` against
// `socat TCP-LISTEN:PORT EXEC:sha256sum` half-closes at the end of the file,
// prints the hash sha256sum computes once it saw the whole file, and exits 0.
func TestConnectHalfClose(t *testing.T) {
	needPeers(t)
	data := randomBytes(t, 4<<20)
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:]) + "  -\n"
	port := freePort(t)
	socat := startBackground(t, "socat", "-d", "-d", "-t", "10",
		"TCP-LISTEN:"+strconv.Itoa(port)+",bind=127.0.0.1,reuseaddr,fork", "EXEC:sha256sum")
	if !socat.stderr.wait("listening on", socat.exited, 20*time.Second) {
		t.Fatalf("socat did not start listening (exit: %v)\n%s", socat.err, socat.stderr.String())
	}
	for i := range 3 {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		out, errOut, code := runHost(t, f, "connect", "eth0", "127.0.0.1", strconv.Itoa(port))
		f.Close()
		if code != 0 || out != want {
			t.Errorf("round %d: host connect exited %d, printed %q (want %q)\nstderr: %s", i, code, out, want, errOut)
		}
	}
}

// TestConnectSendsAfterPeerFinished: a peer that finishes sending first
// (half-closes at once) still receives everything host connect sends until
// stdin ends; host connect then closes and exits 0.
func TestConnectSendsAfterPeerFinished(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		n   int64
		sum [sha256.Size]byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		_, _ = io.WriteString(c, "greeting\n")
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			got <- result{err: err}
			return
		}
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		r.n, r.err = n, err
		copy(r.sum[:], h.Sum(nil))
		got <- r
	}()
	data := randomBytes(t, 4<<20)
	out, errOut, code := runHost(t, bytes.NewReader(data), "connect", "eth0", "127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	if code != 0 || out != "greeting\n" {
		t.Errorf("host connect exited %d, printed %q\nstderr: %s", code, out, errOut)
	}
	select {
	case r := <-got:
		if r.err != nil || r.n != int64(len(data)) || r.sum != sha256.Sum256(data) {
			t.Errorf("the peer read %d bytes (want %d), same bytes: %v, error %v", r.n, len(data), r.sum == sha256.Sum256(data), r.err)
		}
	case <-time.After(20 * time.Second):
		t.Error("the peer did not see the end of the data")
	}
}

// TestConnectBrokenExitsNonZero: when the peer resets the connection before
// stdin is delivered, host connect says so on stderr and exits 1.
func TestConnectBrokenExitsNonZero(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = io.ReadFull(c, make([]byte, 1000))
		_ = c.(*net.TCPConn).SetLinger(0) // close with a reset
		c.Close()
	}()
	data := randomBytes(t, 16<<20)
	_, errOut, code := runHost(t, bytes.NewReader(data), "connect", "eth0", "127.0.0.1", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	if code != 1 || !strings.HasPrefix(errOut, "host: ") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("host connect exited %d (want 1) with stderr %q (want one line)", code, errOut)
	}
	if !strings.Contains(errOut, "stdin") {
		t.Errorf("stderr does not say that stdin was not delivered: %q", errOut)
	}
}
