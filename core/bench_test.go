package core_test

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"ifsock/core"
)

// The benchmarks measure the data path end to end (application to
// application) through each driver's plugin process, next to raw baselines
// in the same run, so each figure reads as a ratio:
//
//	go test -run '^$' -bench . -benchtime 2s ./core

const bulkChunk = 64 << 10

func BenchmarkBulk(b *testing.B) {
	b.Run("raw-net.Pipe", func(b *testing.B) {
		c1, c2 := net.Pipe()
		benchRawBulk(b, c1, c2)
	})
	b.Run("raw-tcp", func(b *testing.B) {
		c1, c2 := tcpPair(b)
		benchRawBulk(b, c1, c2)
	})
	b.Run("loopback-inprocess", func(b *testing.B) { benchIfaceBulk(b, "lo0", "loopback", true) })
	b.Run("loopback-plugin", func(b *testing.B) { benchIfaceBulk(b, "lo0", "loopback", false) })
	b.Run("hostnet-inprocess", func(b *testing.B) { benchIfaceBulk(b, "eth0", "hostnet", true) })
	b.Run("hostnet-plugin", func(b *testing.B) { benchIfaceBulk(b, "eth0", "hostnet", false) })
}

func BenchmarkEcho64(b *testing.B) {
	b.Run("raw-net.Pipe", func(b *testing.B) {
		c1, c2 := net.Pipe()
		benchRawEcho(b, c1, c2)
	})
	b.Run("raw-tcp", func(b *testing.B) {
		c1, c2 := tcpPair(b)
		benchRawEcho(b, c1, c2)
	})
	b.Run("loopback-inprocess", func(b *testing.B) { benchIfaceEcho(b, "lo0", "loopback", true) })
	b.Run("loopback-plugin", func(b *testing.B) { benchIfaceEcho(b, "lo0", "loopback", false) })
	b.Run("hostnet-inprocess", func(b *testing.B) { benchIfaceEcho(b, "eth0", "hostnet", true) })
	b.Run("hostnet-plugin", func(b *testing.B) { benchIfaceEcho(b, "eth0", "hostnet", false) })
}

func tcpPair(b *testing.B) (net.Conn, net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := l.Accept(); acc <- c }()
	c1, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return c1, <-acc
}

func benchRawBulk(b *testing.B, w, r net.Conn) {
	defer w.Close()
	defer r.Close()
	done := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, r)
		done <- n
	}()
	buf := make([]byte, bulkChunk)
	b.SetBytes(bulkChunk)
	b.ResetTimer()
	for range b.N {
		if _, err := w.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
	w.Close()
	if n := <-done; n != int64(b.N)*bulkChunk {
		b.Fatalf("received %d bytes, want %d", n, int64(b.N)*bulkChunk)
	}
}

func benchRawEcho(b *testing.B, c, s net.Conn) {
	defer c.Close()
	defer s.Close()
	go func() { _, _ = io.Copy(s, s) }()
	msg, got := make([]byte, 64), make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, got); err != nil {
			b.Fatal(err)
		}
	}
}

func benchHost(b *testing.B, name, driver string, inProcess bool) *core.Host {
	if inProcess {
		return newInProcessHost(b, core.IfaceConfig{Name: name, Driver: driver})
	}
	return newHost(b, core.IfaceConfig{Name: name, Driver: driver})
}

func benchIfaceBulk(b *testing.B, name, driver string, inProcess bool) {
	h := benchHost(b, name, driver, inProcess)
	i := iface(b, h, name)
	var got atomic.Int64
	want := make(chan struct{})
	var target atomic.Int64
	target.Store(-1)
	_, port := listenFree(b, i, core.Handlers{Received: func(s *core.Socket, d []byte) {
		if n := got.Add(int64(len(d))); n == target.Load() {
			close(want)
		}
	}})
	s, err := i.Connect(context.Background(), "127.0.0.1", port, core.Handlers{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, bulkChunk)
	b.SetBytes(bulkChunk)
	b.ResetTimer()
	for range b.N {
		if err := s.Send(buf); err != nil {
			b.Fatal(err)
		}
	}
	total := int64(b.N) * bulkChunk
	target.Store(total)
	if got.Load() != total {
		select {
		case <-want:
		case <-time.After(60 * time.Second):
			b.Fatalf("received %d of %d bytes", got.Load(), total)
		}
	}
}

func benchIfaceEcho(b *testing.B, name, driver string, inProcess bool) {
	h := benchHost(b, name, driver, inProcess)
	i := iface(b, h, name)
	_, port := listenFree(b, i, core.Handlers{Received: func(s *core.Socket, d []byte) { _ = s.Send(d) }})
	got := make(chan int, 64)
	s, err := i.Connect(context.Background(), "127.0.0.1", port, core.Handlers{
		Received: func(s *core.Socket, d []byte) { got <- len(d) },
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := make([]byte, 64)
	b.ResetTimer()
	for range b.N {
		if err := s.Send(msg); err != nil {
			b.Fatal(err)
		}
		for n := 0; n < len(msg); {
			n += <-got
		}
	}
}
