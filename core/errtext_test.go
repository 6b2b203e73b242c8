package core_test

import (
	"context"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
)

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// repeats reports a phrase of at least 3 words that err's text says twice.
func repeats(text string) string {
	for _, sep := range []string{": ", " ("} {
		parts := strings.Split(text, sep)
		seen := map[string]bool{}
		for _, p := range parts {
			p = strings.TrimRight(strings.TrimSpace(p), ")")
			if len(strings.Fields(p)) < 2 {
				continue
			}
			if seen[p] {
				return p
			}
			seen[p] = true
		}
	}
	// A phrase of 3+ words appearing twice anywhere.
	w := strings.Fields(text)
	for n := 3; n <= 6; n++ {
		seen := map[string]bool{}
		for i := 0; i+n <= len(w); i++ {
			p := strings.Join(w[i:i+n], " ")
			if seen[p] {
				return p
			}
			seen[p] = true
		}
	}
	return ""
}

// TestErrorTextsSayEachThingOnce prints the text of the errors of issue 10
// item 4 and fails when one says the same thing twice.
func TestErrorTextsSayEachThingOnce(t *testing.T) {
	h := newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	check := func(name string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		t.Logf("%s:\n\t%v", name, err)
		if p := repeats(err.Error()); p != "" {
			t.Errorf("%s says %q twice: %v", name, p, err)
		}
	}
	for _, name := range []string{"lo0", "eth0"} {
		i := iface(t, h, name)
		addr := "127.0.0.1:1"
		if name == "eth0" {
			addr = closedPort(t)
		}
		_, err := i.DialContext(ctx, "tcp", addr)
		check(name+" refused dial", err)
	}
	_, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "x0", Driver: "nosuch"}}, Builtins: builtins})
	check("unknown driver", err)
}

// TestWriteAfterPeerClosedIsOneError writes on eth0 and lo0 while and after
// the peer closes (eth0: resets) the connection, and fails when the writes
// of one event give texts that differ beyond socket numbers and addresses.
func TestWriteAfterPeerClosedIsOneError(t *testing.T) {
	h := newHost(t)
	for _, name := range []string{"lo0", "eth0"} {
		t.Run(name, func(t *testing.T) {
			i := iface(t, h, name)
			texts := map[string]string{}
			for trial := range 6 {
				for _, e := range writeAfterPeerClosed(t, i, name == "eth0", trial%2 == 0) {
					texts[normalize(e.Error())] = e.Error()
				}
			}
			for _, x := range texts {
				t.Logf("write error: %s", x)
				if p := repeats(x); p != "" {
					t.Errorf("%q says %q twice", x, p)
				}
			}
			if len(texts) > 1 {
				t.Errorf("one event gives %d different write errors", len(texts))
			}
		})
	}
}

var digits = regexp.MustCompile(`[0-9]+`)

func normalize(s string) string { return digits.ReplaceAllString(s, "N") }

// writeAfterPeerClosed returns the errors of writes on a connection whose
// peer closes (reset: an OS socket with linger 0) while they run.
func writeAfterPeerClosed(t *testing.T, i *core.Interface, reset, wait bool) []error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var l net.Listener
	if reset {
		ol, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ol.Close()
		l = ol
	} else {
		cl, port := netListenFree(t, i)
		defer cl.Close()
		l = fixedAddrListener{cl, "127.0.0.1:" + strconv.Itoa(port)}
	}
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := l.Accept(); accepted <- c }()
	c, err := i.DialContext(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := <-accepted
	if tc, ok := p.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	p.Close()
	if wait {
		time.Sleep(100 * time.Millisecond)
	}
	var errs []error
	buf := make([]byte, 1024)
	for k := 0; k < 2000 && len(errs) < 5; k++ {
		if _, err := c.Write(buf); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

type fixedAddrListener struct {
	net.Listener
	addr string
}

func (l fixedAddrListener) Addr() net.Addr { a, _ := net.ResolveTCPAddr("tcp", l.addr); return a }
