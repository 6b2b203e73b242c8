package core_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
)

// The benchmarks measure the data path end to end (application to
// application) through each driver's plugin process, next to raw baselines
// measured in the same run, so each figure reads as a ratio (issue #7).
// scripts/bench-datapath.sh runs them in rounds and prints the table of
// medians; one round by hand:
//
//	go test -run '^$' -bench 'Bulk|Echo64|ConnectClose|Transport/send-64B$' -benchtime 1s ./core
//	go test -run '^$' -bench HeapPerClosedSocket -benchtime 20000x ./core
//
// Sub-benchmarks named raw-* and floor-* are the baselines; the others go
// through a plugin process unless their name ends in -inprocess. The other
// rows of the table are BenchmarkTransport (nulldriver_test.go) and
// BenchmarkHeapPerClosedSocket (heap_bench_test.go). Besides ns/op and
// MB/s, the bulk benchmarks report cpu-s/GB (CPU of the test process plus
// the plugin process per GB delivered) and the echo benchmarks p50-ns and
// p99-ns (per round trip).

const bulkChunk = 64 << 10

// BenchmarkBulk: one socket, 64 KiB writes, until every byte reached the
// receiving application.
//
//   - raw-tcp: net.Dial to a net.Listen server in this process that reads
//     with a 64 KiB buffer and discards: the baseline.
//   - eth0-send: Send on an eth0 socket (hostnet plugin) to that raw server.
//   - eth0-recv: a raw TCP client writing to an eth0 listener whose Received
//     handler counts.
//   - lo0: both ends on lo0, through the loopback plugin.
//   - eth0-send-inprocess, lo0-inprocess: the same with the driver in this
//     process, for what the process boundary costs.
func BenchmarkBulk(b *testing.B) {
	b.Run("raw-tcp", func(b *testing.B) {
		port, got := rawSink(b)
		benchBulk(b, got, nil, rawSender(b, port))
	})
	b.Run("eth0-send", func(b *testing.B) {
		eth := benchIface(b, "eth0", "hostnet", false)
		port, got := rawSink(b)
		benchBulk(b, got, []int{eth.PID()}, ifaceSender(b, eth, port))
	})
	b.Run("eth0-recv", func(b *testing.B) {
		eth := benchIface(b, "eth0", "hostnet", false)
		port, got := ifaceSink(b, eth)
		benchBulk(b, got, []int{eth.PID()}, rawSender(b, port))
	})
	b.Run("lo0", func(b *testing.B) {
		lo := benchIface(b, "lo0", "loopback", false)
		port, got := ifaceSink(b, lo)
		benchBulk(b, got, []int{lo.PID()}, ifaceSender(b, lo, port))
	})
	b.Run("eth0-send-inprocess", func(b *testing.B) {
		eth := benchIface(b, "eth0", "hostnet", true)
		port, got := rawSink(b)
		benchBulk(b, got, nil, ifaceSender(b, eth, port))
	})
	b.Run("lo0-inprocess", func(b *testing.B) {
		lo := benchIface(b, "lo0", "loopback", true)
		port, got := ifaceSink(b, lo)
		benchBulk(b, got, nil, ifaceSender(b, lo, port))
	})
}

// BenchmarkBulk16: 16 sockets at once, each sending 64 KiB writes from its
// own goroutine to one raw TCP server; MB/s is the aggregate.
func BenchmarkBulk16(b *testing.B) {
	const sockets = 16
	b.Run("raw-tcp", func(b *testing.B) {
		port, got := rawSink(b)
		senders := make([]func([]byte) error, sockets)
		for k := range senders {
			senders[k] = rawSender(b, port)
		}
		benchBulk(b, got, nil, senders...)
	})
	b.Run("eth0-send", func(b *testing.B) {
		eth := benchIface(b, "eth0", "hostnet", false)
		port, got := rawSink(b)
		senders := make([]func([]byte) error, sockets)
		for k := range senders {
			senders[k] = ifaceSender(b, eth, port)
		}
		benchBulk(b, got, []int{eth.PID()}, senders...)
	})
}

// BenchmarkEcho64: 64-byte round trips, one at a time, on one socket.
//
//   - floor-unix, floor-tcp: a round trip over a Unix socket and over TCP to
//     an echo server in a second process (this test binary run again). An
//     eth0 echo crosses both (app to plugin over Unix, plugin to peer over
//     TCP), so their sum is its floor.
//   - raw-tcp-inprocess: TCP to an echo goroutine of this process (the
//     baseline of the p99).
//   - eth0: a socket on eth0 (hostnet plugin) to the second process's TCP
//     echo server.
//   - lo0: both ends on lo0, the listener's handler echoing.
func BenchmarkEcho64(b *testing.B) {
	unixAddr, tcpAddr := echoChild(b)
	_, tcpPort, err := net.SplitHostPort(tcpAddr)
	if err != nil {
		b.Fatal(err)
	}
	port, _ := strconv.Atoi(tcpPort)
	b.Run("floor-unix", func(b *testing.B) { benchRoundTrips(b, connRoundTrip(b, dial(b, "unix", unixAddr))) })
	b.Run("floor-tcp", func(b *testing.B) { benchRoundTrips(b, connRoundTrip(b, dial(b, "tcp", tcpAddr))) })
	b.Run("raw-tcp-inprocess", func(b *testing.B) {
		c, s := tcpPair(b)
		go echoLoop(s)
		benchRoundTrips(b, connRoundTrip(b, c))
	})
	b.Run("eth0", func(b *testing.B) {
		benchRoundTrips(b, socketRoundTrip(b, benchIface(b, "eth0", "hostnet", false), port))
	})
	b.Run("lo0", func(b *testing.B) {
		lo := benchIface(b, "lo0", "loopback", false)
		_, port := listenFree(b, lo, core.Handlers{Received: func(s *core.Socket, d []byte) { _ = s.Send(d) }})
		benchRoundTrips(b, socketRoundTrip(b, lo, port))
	})
	b.Run("eth0-inprocess", func(b *testing.B) {
		benchRoundTrips(b, socketRoundTrip(b, benchIface(b, "eth0", "hostnet", true), port))
	})
}

// BenchmarkConnectClose: open a socket to a raw TCP server of this process
// and close it, one after the other; reports conns/s besides ns/op.
func BenchmarkConnectClose(b *testing.B) {
	b.Run("raw-tcp", func(b *testing.B) {
		port := drainServer(b)
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		b.ResetTimer()
		for range b.N {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			_ = c.Close()
		}
		reportRate(b)
	})
	b.Run("eth0", func(b *testing.B) {
		eth := benchIface(b, "eth0", "hostnet", false)
		port := drainServer(b)
		ctx := context.Background()
		b.ResetTimer()
		for range b.N {
			s, err := eth.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b)
	})
}

func reportRate(b *testing.B) {
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "conns/s")
}

// benchIface returns a started interface of a new host, its driver in a
// plugin process or, with inProcess, in this one.
func benchIface(b *testing.B, name, driver string, inProcess bool) *core.Interface {
	b.Helper()
	cfg := core.IfaceConfig{Name: name, Driver: driver}
	var h *core.Host
	if inProcess {
		h = newInProcessHost(b, cfg)
	} else {
		h = newHost(b, cfg)
	}
	i := iface(b, h, name)
	if err := i.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return i
}

// benchBulk sends b.N chunks of 64 KiB, shared out among senders (each in
// its own goroutine), and waits until got counted every byte. It reports
// the CPU time of this process and of the processes pids (0s are skipped)
// per GB as cpu-s/GB.
func benchBulk(b *testing.B, got *tally, pids []int, senders ...func([]byte) error) {
	buf := make([]byte, bulkChunk)
	total := int64(b.N) * bulkChunk
	b.SetBytes(bulkChunk)
	cpu := startCPU(b, pids)
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, len(senders))
	for k, send := range senders {
		n := b.N / len(senders)
		if k < b.N%len(senders) {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := send(buf); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	if err := got.wait(total, time.Minute); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu.report(b, total)
}

// tally counts the bytes a receiver got and wakes whoever waits for a
// total. Its Write counts too.
type tally struct {
	mu      sync.Mutex
	n       int64
	want    int64
	reached chan struct{} // closed when n reaches want
}

func (t *tally) add(n int) {
	t.mu.Lock()
	t.n += int64(n)
	if t.reached != nil && t.n >= t.want {
		close(t.reached)
		t.reached = nil
	}
	t.mu.Unlock()
}

func (t *tally) Write(p []byte) (int, error) { t.add(len(p)); return len(p), nil }

// wait returns once total bytes were counted, or an error after timeout.
func (t *tally) wait(total int64, timeout time.Duration) error {
	t.mu.Lock()
	if t.n >= total {
		t.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	t.want, t.reached = total, ch
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-time.After(timeout):
		t.mu.Lock()
		defer t.mu.Unlock()
		return fmt.Errorf("received %d of %d bytes", t.n, total)
	}
}

// rawServer runs a plain TCP server on 127.0.0.1 in this process, serve
// handling each connection (and closing it after), until the benchmark
// ends.
func rawServer(b *testing.B, serve func(net.Conn)) (port int) {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := make(map[net.Conn]struct{}) // open ones, closed at cleanup
	b.Cleanup(func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				serve(c)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			})
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// rawSink is a raw TCP server that reads with a 64 KiB buffer and counts.
func rawSink(b *testing.B) (port int, got *tally) {
	got = new(tally)
	return rawServer(b, func(c net.Conn) {
		_, _ = io.CopyBuffer(got, struct{ io.Reader }{c}, make([]byte, bulkChunk))
	}), got
}

// drainServer is a raw TCP server that reads until its peer closes.
func drainServer(b *testing.B) (port int) {
	return rawServer(b, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
}

// ifaceSink listens on i with a Received handler that counts.
func ifaceSink(b *testing.B, i *core.Interface) (port int, got *tally) {
	got = new(tally)
	_, port = listenFree(b, i, core.Handlers{Received: func(s *core.Socket, d []byte) { got.add(len(d)) }})
	return port, got
}

// rawSender dials 127.0.0.1:port and returns its Write.
func rawSender(b *testing.B, port int) func([]byte) error {
	c := dial(b, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	return func(p []byte) error { _, err := c.Write(p); return err }
}

// ifaceSender connects a socket of i to 127.0.0.1:port and returns its Send.
func ifaceSender(b *testing.B, i *core.Interface, port int) func([]byte) error {
	s, err := i.Connect(context.Background(), "127.0.0.1", port, core.Handlers{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s.Send
}

func dial(b *testing.B, network, addr string) net.Conn {
	b.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// tcpPair returns both ends of a TCP connection over 127.0.0.1, closed when
// the benchmark ends.
func tcpPair(b *testing.B) (net.Conn, net.Conn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := l.Accept(); acc <- c }()
	c1 := dial(b, "tcp", l.Addr().String())
	c2 := <-acc
	if c2 == nil {
		b.Fatal("accept failed")
	}
	b.Cleanup(func() { _ = c2.Close() })
	return c1, c2
}

// echoLoop writes back what c reads until c ends: read and write calls
// only, the plainest echo there is.
func echoLoop(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// benchRoundTrips times b.N round trips and reports their p50 and p99.
func benchRoundTrips(b *testing.B, roundTrip func() error) {
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for k := range b.N {
		start := time.Now()
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
		lat[k] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}

// connRoundTrip writes 64 bytes to c and reads the 64 it echoes.
func connRoundTrip(b *testing.B, c net.Conn) func() error {
	msg, got := make([]byte, 64), make([]byte, 64)
	return func() error {
		if _, err := c.Write(msg); err != nil {
			return err
		}
		_, err := io.ReadFull(c, got)
		return err
	}
}

// socketRoundTrip connects a socket of i to an echo server on
// 127.0.0.1:port, Sends 64 bytes and waits for the 64 it echoes.
func socketRoundTrip(b *testing.B, i *core.Interface, port int) func() error {
	got := make(chan int, 64)
	s, err := i.Connect(context.Background(), "127.0.0.1", port, core.Handlers{
		Received: func(s *core.Socket, d []byte) { got <- len(d) },
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	msg := make([]byte, 64)
	return func() error {
		if err := s.Send(msg); err != nil {
			return err
		}
		for n := 0; n < len(msg); {
			n += <-got
		}
		return nil
	}
}
