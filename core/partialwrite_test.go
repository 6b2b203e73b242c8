package core_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
)

// TestWriteCountsWhatWasSent writes more than the peer's windows hold to a
// peer that does not read, until the write deadline: the Write must return
// the bytes it committed (io.Writer), and the peer must then read exactly
// that many.
func TestWriteCountsWhatWasSent(t *testing.T) {
	h := newHost(t)
	inproc, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "eth1", Driver: "hostnet"}},
		Builtins: builtins, InProcess: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer inproc.Close()
	for _, name := range []string{"lo0", "eth0", "eth1"} {
		t.Run(name, func(t *testing.T) {
			hh := h
			if name == "eth1" { // hostnet in this process
				hh = inproc
			}
			i := iface(t, hh, name)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l, port := netListenFree(t, i)
			accepted := make(chan net.Conn, 1)
			go func() { c, _ := l.Accept(); accepted <- c }()
			c, err := i.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			p := <-accepted
			defer p.Close()
			c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := c.Write(make([]byte, 64<<20))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("write: %v, want a deadline error", err)
			}
			if n == 0 {
				t.Fatalf("write failed partway (%v) and returned n=0", err)
			}
			c.Close()
			p.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.Copy(io.Discard, p)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if got != int64(n) {
				t.Errorf("Write returned %d, the peer read %d", n, got)
			}
		})
	}
}
