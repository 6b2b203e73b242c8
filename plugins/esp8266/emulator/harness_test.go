package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// waitTime bounds every wait in the tests; a failure never hangs the suite.
const waitTime = 5 * time.Second

// fastBaud makes the throttle irrelevant in functional tests.
const fastBaud = 40_000_000

// rig runs an emulator over net.Pipe and plays the host side.
type rig struct {
	t       *testing.T
	emu     *Emulator
	host    net.Conn
	data    chan []byte
	pending []byte
}

func start(t *testing.T, cfg Config) *rig {
	t.Helper()
	if cfg.Baud == 0 {
		cfg.Baud = fastBaud
	}
	if cfg.Logger == nil && os.Getenv("ESPEMU_DEBUG") != "" {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: t.Name(), Output: os.Stderr, Level: hclog.Trace})
	}
	emu, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	host, dev := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- emu.Serve(ctx, dev) }()
	r := &rig{t: t, emu: emu, host: host, data: make(chan []byte, 64)}
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(r.data)
		for {
			buf := make([]byte, 4096)
			n, err := host.Read(buf)
			if n > 0 {
				select {
				case r.data <- buf[:n]:
				case <-stop:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("serve returned %v, want context.Canceled", err)
			}
		case <-time.After(waitTime):
			t.Error("serve did not return after cancel")
		}
		close(stop)
		host.Close()
		dev.Close()
		<-readerDone
	})
	return r
}

func (r *rig) send(s string) {
	r.t.Helper()
	_ = r.host.SetWriteDeadline(time.Now().Add(waitTime))
	if _, err := r.host.Write([]byte(s)); err != nil {
		r.t.Fatalf("writing %q to the emulator: %v", s, err)
	}
}

// fill waits until at least n bytes are pending or the deadline passes.
func (r *rig) fill(n int, deadline time.Time) bool {
	for len(r.pending) < n {
		select {
		case b, ok := <-r.data:
			if !ok {
				return false
			}
			r.pending = append(r.pending, b...)
		case <-time.After(time.Until(deadline)):
			return false
		}
	}
	return true
}

// expect asserts that the next bytes from the emulator are exactly want.
func (r *rig) expect(want string) {
	r.t.Helper()
	ok := r.fill(len(want), time.Now().Add(waitTime))
	got := string(r.pending[:min(len(want), len(r.pending))])
	if !ok || got != want {
		r.t.Fatalf("emulator output:\n got %q\nwant %q", string(r.pending), want)
	}
	r.pending = r.pending[len(want):]
}

// until returns everything up to and including sub.
func (r *rig) until(sub string) string {
	r.t.Helper()
	deadline := time.Now().Add(waitTime)
	for {
		if i := bytes.Index(r.pending, []byte(sub)); i >= 0 {
			out := string(r.pending[:i+len(sub)])
			r.pending = r.pending[i+len(sub):]
			return out
		}
		if !r.fill(len(r.pending)+1, deadline) {
			r.t.Fatalf("waiting for %q; got %q", sub, string(r.pending))
		}
	}
}

// untilAny returns everything up to and including the first of subs.
func (r *rig) untilAny(subs ...string) string {
	r.t.Helper()
	deadline := time.Now().Add(waitTime)
	for {
		best, end := -1, 0
		for _, sub := range subs {
			if i := bytes.Index(r.pending, []byte(sub)); i >= 0 && (best < 0 || i < best) {
				best, end = i, i+len(sub)
			}
		}
		if best >= 0 {
			out := string(r.pending[:end])
			r.pending = r.pending[end:]
			return out
		}
		if !r.fill(len(r.pending)+1, deadline) {
			r.t.Fatalf("waiting for one of %q; got %q", subs, string(r.pending))
		}
	}
}

// quiet asserts that nothing arrives for d.
func (r *rig) quiet(d time.Duration) {
	r.t.Helper()
	if r.fill(len(r.pending)+1, time.Now().Add(d)) {
		r.t.Fatalf("unexpected output %q", string(r.pending))
	}
}

// cmd sends line+CRLF and expects the dialect's echo, then want.
func (r *rig) cmd(line, want string) {
	r.t.Helper()
	r.send(line + "\r\n")
	if r.emu.Firmware() == Firmware17 {
		r.expect(line + "\r\r\n" + want)
	} else {
		r.expect(line + "\r\n" + want)
	}
}

// peer is a real TCP listener on loopback standing in for a remote host.
type peer struct {
	t  *testing.T
	ln net.Listener
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &peer{t: t, ln: ln}
}

func (p *peer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *peer) accept() net.Conn {
	p.t.Helper()
	_ = p.ln.(*net.TCPListener).SetDeadline(time.Now().Add(waitTime))
	c, err := p.ln.Accept()
	if err != nil {
		p.t.Fatalf("peer accept: %v", err)
	}
	p.t.Cleanup(func() { c.Close() })
	return c
}

// readN reads exactly n bytes from c.
func readN(t *testing.T, c net.Conn, n int) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTime))
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading %d bytes from the peer: %v (got %q)", n, err, buf)
	}
	return string(buf)
}

// expectEOF asserts that the emulator closed the socket.
func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTime))
	b := make([]byte, 1)
	if n, err := c.Read(b); err == nil {
		t.Fatalf("socket still open: read %q", b[:n])
	}
}

// closedPort returns a loopback port with nothing listening.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func startLine(id int, host string, port int) string {
	if id < 0 {
		return fmt.Sprintf(`AT+CIPSTART="TCP","%s",%d`, host, port)
	}
	return fmt.Sprintf(`AT+CIPSTART=%d,"TCP","%s",%d`, id, host, port)
}

// connect opens link id to p and returns the peer's end.
func (r *rig) connect(p *peer, id int) net.Conn {
	r.t.Helper()
	prefix := ""
	if id >= 0 {
		prefix = strconv.Itoa(id) + ","
	}
	r.cmd(startLine(id, "127.0.0.1", p.port()), prefix+"CONNECT\r\n\r\nOK\r\n")
	return p.accept()
}

// sendData runs a full CIPSEND of payload on link id.
func (r *rig) sendData(id int, payload string) {
	r.t.Helper()
	prompt := "\r\nOK\r\n\r\n>"
	if r.emu.Firmware() == Firmware17 {
		prompt = "\r\nOK\r\n> "
	}
	r.cmd(fmt.Sprintf("AT+CIPSEND=%d,%d", id, len(payload)), prompt)
	r.send(payload)
	r.expect(fmt.Sprintf("\r\nRecv %d bytes\r\n\r\nSEND OK\r\n", len(payload)))
}

func peerPort(c net.Conn) int { return c.LocalAddr().(*net.TCPAddr).Port }

func dialServer(t *testing.T, e *Emulator) net.Conn {
	t.Helper()
	addr := e.ServerAddr()
	if addr == nil {
		t.Fatal("no server address")
	}
	c, err := net.DialTimeout("tcp4", addr.String(), waitTime)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
