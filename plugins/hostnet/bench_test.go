package hostnet

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// The benchmarks run the same work over raw net TCP on 127.0.0.1 and
// through the driver in process, in one run, so results read as ratios:
//
//	go test -run - -bench . ./plugins/hostnet

const bulkWrite = 64 << 10

// countingEvents counts received bytes and signals each Received on data
// (when set), for the benchmarks.
type countingEvents struct {
	got      atomic.Int64
	target   int64         // when set, reached is closed once got reaches it
	reached  chan struct{} // see target
	data     chan int
	accepted chan sdk.Socket
}

func (e *countingEvents) Accepted(_, s sdk.Socket, _ netip.AddrPort) {
	if e.accepted != nil {
		e.accepted <- s
	}
}

func (e *countingEvents) Received(_ sdk.Socket, data []byte) error {
	if got := e.got.Add(int64(len(data))); e.target > 0 && got >= e.target && got-int64(len(data)) < e.target {
		close(e.reached)
	}
	if e.data != nil {
		e.data <- len(data)
	}
	return nil
}

func (e *countingEvents) Finished(sdk.Socket) {}

func (e *countingEvents) Dropped(sdk.Socket, error) {}

// tcpPair returns both ends of a raw TCP connection on 127.0.0.1.
func tcpPair(b *testing.B) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// drain reads n bytes from c into a reused buffer and reports the error.
func drain(c net.Conn, n int64) chan error {
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, c, n)
		done <- err
	}()
	return done
}

// BenchmarkBulk: one-way throughput with 64 KiB writes: raw TCP, the driver
// receiving (its reader and Events.Received), and the driver sending.
func BenchmarkBulk(b *testing.B) {
	buf := make([]byte, bulkWrite)
	b.Run("raw-tcp", func(b *testing.B) {
		client, server := tcpPair(b)
		b.SetBytes(bulkWrite)
		done := drain(server, int64(b.N)*bulkWrite)
		b.ResetTimer()
		for range b.N {
			if _, err := client.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	})
	b.Run("hostnet-recv", func(b *testing.B) {
		ev := &countingEvents{accepted: make(chan sdk.Socket, 1),
			target: int64(b.N) * bulkWrite, reached: make(chan struct{})}
		d, _ := open(b, ev, nil)
		_, port := listenZero(b, d)
		c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		<-ev.accepted
		b.SetBytes(bulkWrite)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		<-ev.reached
	})
	for _, c := range sendContexts {
		b.Run("hostnet-send"+c.name, func(b *testing.B) {
			d, _ := open(b, &countingEvents{}, nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			s, err := d.Connect(context.Background(), sdk.ConnectRequest{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port})
			if err != nil {
				b.Fatal(err)
			}
			server, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			b.SetBytes(bulkWrite)
			done := drain(server, int64(b.N)*bulkWrite)
			ctx := c.ctx(b)
			b.ResetTimer()
			for range b.N {
				if err := d.Send(ctx, s, buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkSend64: the cost of one small Send (64 bytes to a peer that
// drains), where the per-call work around the write shows most, with each
// kind of ctx.
func BenchmarkSend64(b *testing.B) {
	msg := make([]byte, 64)
	for _, c := range sendContexts {
		b.Run("hostnet"+c.name, func(b *testing.B) {
			d, _ := open(b, &countingEvents{}, nil)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			s, err := d.Connect(context.Background(), sdk.ConnectRequest{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port})
			if err != nil {
				b.Fatal(err)
			}
			server, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			defer server.Close()
			done := drain(server, int64(b.N)*int64(len(msg)))
			ctx := c.ctx(b)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := d.Send(ctx, s, msg); err != nil {
					b.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// sendContexts are the kinds of ctx a Send gets: none that can end (in
// process, context.Background), one that can be canceled (every call
// through a plugin process: gRPC's), and one with a deadline.
var sendContexts = []struct {
	name string
	ctx  func(b *testing.B) context.Context
}{
	{"", func(*testing.B) context.Context { return context.Background() }},
	{"-cancel", func(b *testing.B) context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		return ctx
	}},
	{"-deadline", func(b *testing.B) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		b.Cleanup(cancel)
		return ctx
	}},
}

// BenchmarkEcho64: one 64-byte round trip through an echo server per
// iteration: raw TCP, and the driver (Send, then wait for Received).
func BenchmarkEcho64(b *testing.B) {
	msg := make([]byte, 64)
	b.Run("raw-tcp", func(b *testing.B) {
		port := echoServer(b, "tcp", "127.0.0.1:0")
		c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		in := make([]byte, 64)
		b.ResetTimer()
		for range b.N {
			if _, err := c.Write(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, c := range sendContexts {
		b.Run("hostnet"+c.name, func(b *testing.B) {
			port := echoServer(b, "tcp", "127.0.0.1:0")
			ev := &countingEvents{data: make(chan int, 16)}
			d, _ := open(b, ev, nil)
			s, err := d.Connect(context.Background(), sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
			if err != nil {
				b.Fatal(err)
			}
			ctx := c.ctx(b)
			b.ResetTimer()
			for range b.N {
				if err := d.Send(ctx, s, msg); err != nil {
					b.Fatal(err)
				}
				for n := 0; n < len(msg); n += <-ev.data {
				}
			}
		})
	}
}
