package core_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
)

// echoListener is a plain net echo server on 127.0.0.1, outside the
// project: the real peer the eth0 tests talk to.
func echoListener(t *testing.T) (port int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); _, _ = io.Copy(c, c) })
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// TestThousandSocketsThroughPlugin: 1,000 sockets open at once on eth0
// through one hostnet plugin process, each echoing 4 KiB, all byte-exact.
func TestThousandSocketsThroughPlugin(t *testing.T) {
	const n, size = 1000, 4 << 10
	h := newHost(t, core.IfaceConfig{Name: "eth0", Driver: "hostnet", Settings: map[string]string{"max_sockets": "1100"}})
	eth := iface(t, h, "eth0")
	port := echoListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	type peer struct {
		mu   sync.Mutex
		got  []byte
		done chan struct{}
	}
	peers := make([]*peer, n)
	socks := make([]*core.Socket, n)
	for i := range n {
		p := &peer{done: make(chan struct{})}
		peers[i] = p
		s, err := eth.Connect(ctx, "127.0.0.1", port, core.Handlers{Received: func(s *core.Socket, d []byte) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.got = append(p.got, d...)
			if len(p.got) == size {
				close(p.done)
			}
		}}, nil)
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		socks[i] = s
	}
	// All 1,000 are open at once; now each echoes 4 KiB.
	msgs := make([][]byte, n)
	var wg sync.WaitGroup
	var sendErrs atomic.Int32
	for i := range n {
		msgs[i] = make([]byte, size)
		_, _ = rand.Read(msgs[i])
		wg.Go(func() {
			if err := socks[i].SendContext(ctx, msgs[i]); err != nil {
				sendErrs.Add(1)
			}
		})
	}
	wg.Wait()
	if e := sendErrs.Load(); e > 0 {
		t.Fatalf("%d sends failed", e)
	}
	for i, p := range peers {
		select {
		case <-p.done:
		case <-ctx.Done():
			t.Fatalf("socket %d: echo incomplete", i)
		}
		p.mu.Lock()
		if !bytes.Equal(p.got, msgs[i]) {
			t.Errorf("socket %d: echo differs", i)
		}
		p.mu.Unlock()
	}
	for _, s := range socks {
		_ = s.Close()
	}
}

// TestMemoryBoundThroughPlugin: a peer pushes 256 MiB at a socket whose
// handler sleeps; the host's heap and the plugin's resident memory stay
// within stated bounds (the flow control of rule 6 reaches the OS socket,
// and TCP holds the peer back), and once the handler wakes every byte
// arrives intact.
func TestMemoryBoundThroughPlugin(t *testing.T) {
	const total = 256 << 20
	const (
		hostBound   = 24 << 20 // host heap growth while the handler sleeps
		pluginBound = 48 << 20 // plugin RSS growth while the handler sleeps
	)
	h := newHost(t, core.IfaceConfig{Name: "eth0", Driver: "hostnet"})
	eth := iface(t, h, "eth0")
	port := freeTCPPort(t)
	if err := eth.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := eth.PID()

	gate := make(chan struct{})
	var received atomic.Int64
	sum := sha256.New()
	var sumMu sync.Mutex
	accepted := make(chan struct{}, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	lst, err := eth.Listen(ctx, port, core.Handlers{
		Connected: func(s *core.Socket) { accepted <- struct{}{} },
		Received: func(s *core.Socket, d []byte) {
			<-gate
			sumMu.Lock()
			sum.Write(d)
			sumMu.Unlock()
			received.Add(int64(len(d)))
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lst.Close()

	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	<-accepted
	runtime.GC()
	hostBase, pluginBase := heapBytes(), rssBytes(t, pid)

	want := sha256.New()
	var pushed atomic.Int64
	pushDone := make(chan error, 1)
	go func() {
		chunk := make([]byte, 1<<20)
		for pushed.Load() < total {
			_, _ = rand.Read(chunk[:64]) // vary the data cheaply
			want.Write(chunk)
			n, err := c.Write(chunk)
			pushed.Add(int64(n))
			if err != nil {
				pushDone <- err
				return
			}
		}
		pushDone <- nil
	}()

	// While the handler sleeps: sample memory for two seconds.
	var hostPeak, pluginPeak uint64
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		hostPeak = max(hostPeak, heapBytes())
		pluginPeak = max(pluginPeak, rssBytes(t, pid))
	}
	held := pushed.Load()
	t.Logf("handler asleep: the peer got %d MiB out of 256; host heap +%d KiB, plugin RSS +%d KiB",
		held>>20, int64(hostPeak-hostBase)>>10, int64(pluginPeak-pluginBase)>>10)
	if held >= total {
		t.Fatalf("the peer pushed all %d bytes while the handler slept: no flow control", held)
	}
	if g := int64(hostPeak) - int64(hostBase); g > hostBound {
		t.Errorf("host heap grew by %d MiB while the handler slept, bound %d MiB", g>>20, hostBound>>20)
	}
	if g := int64(pluginPeak) - int64(pluginBase); g > pluginBound {
		t.Errorf("plugin RSS grew by %d MiB while the handler slept, bound %d MiB", g>>20, pluginBound>>20)
	}

	close(gate)
	if err := <-pushDone; err != nil {
		t.Fatal(err)
	}
	c.Close()
	for received.Load() < total {
		select {
		case <-ctx.Done():
			t.Fatalf("received %d of %d bytes", received.Load(), total)
		case <-time.After(20 * time.Millisecond):
		}
	}
	sumMu.Lock()
	defer sumMu.Unlock()
	if !bytes.Equal(sum.Sum(nil), want.Sum(nil)) {
		t.Fatal("the 256 MiB arrived altered")
	}
}

// freeTCPPort returns a port that was free on 127.0.0.1 a moment ago.
func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(t *testing.T, pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the plugin's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}
