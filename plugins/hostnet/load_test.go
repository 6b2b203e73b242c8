package hostnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// needFiles raises the soft RLIMIT_NOFILE to at least n (within the hard
// limit), or skips the test.
func needFiles(t *testing.T, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("RLIMIT_NOFILE hard limit %d < %d needed", lim.Max, n)
	}
	old := lim
	lim.Cur = n
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
}

// TestThousandSockets: 1,000 sockets open at once on one driver, each
// echoing 4 KiB of its own through a net echo server, all byte-exact.
func TestThousandSockets(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n, size = 1000, 4096
	needFiles(t, 2*n+100)
	r := newRecorder()
	d, _ := open(t, r, sdk.Settings{"max_sockets": "1000"})
	port := echoServer(t, "tcp", "127.0.0.1:0")
	socks := make([]sdk.Socket, n)
	msgs := make([][]byte, n)
	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, n)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
				if err != nil {
					errs <- err
					continue
				}
				socks[i] = s
				msgs[i] = make([]byte, size)
				rand.NewChaCha8([32]byte{byte(i), byte(i >> 8)}).Read(msgs[i])
				if err := d.Send(ctxT(t), s, msgs[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// All 1,000 are open at once: the limit is reached.
	if _, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: port}); !errors.Is(err, sdk.ErrNoSockets) {
		t.Errorf("connect #1001: %v, want ErrNoSockets", err)
	}
	for i, s := range socks {
		if got := r.data(t, s, size); !bytes.Equal(got, msgs[i]) {
			t.Fatalf("socket %d: echo differs (%d bytes)", i, len(got))
		}
	}
	t.Logf("%d sockets, %d bytes each, echoed in %v", n, size, time.Since(start))
	r.check(t)
}

// heapBytes returns the bytes of heap objects, live or not yet swept.
func heapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// holdingEvents is a host whose handler sleeps: Received blocks until
// release is closed (as a full receive window would), then consumes and
// hashes at full speed.
type holdingEvents struct {
	release  chan struct{}
	accepted chan sdk.Socket
	finished chan struct{}
	dropped  chan error
	held     atomic.Bool
	got      atomic.Int64
	hash     hashWriter
}

type hashWriter struct {
	mu sync.Mutex
	h  interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func (e *holdingEvents) Accepted(_, s sdk.Socket, _ netip.AddrPort) { e.accepted <- s }

func (e *holdingEvents) Received(_ sdk.Socket, data []byte) error {
	e.held.Store(true)
	<-e.release
	e.hash.mu.Lock()
	e.hash.h.Write(data)
	e.hash.mu.Unlock()
	e.got.Add(int64(len(data)))
	return nil
}

func (e *holdingEvents) Finished(sdk.Socket) { close(e.finished) }

func (e *holdingEvents) Dropped(_ sdk.Socket, reason error) { e.dropped <- reason }

// TestMemoryBound is rule 6 on a real TCP stack: a peer pushes 256 MiB to a
// socket whose handler sleeps. The driver must not read ahead: the heap
// stays flat, the kernel buffers fill, and TCP holds the peer back. Once the
// handler wakes, every byte arrives, in order (by checksum).
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const (
		total     = 256 << 20
		chunk     = 1 << 20
		hold      = time.Second
		holdBound = 4 << 20  // heap growth allowed while the handler sleeps
		fullBound = 48 << 20 // heap growth allowed while draining (garbage of finished reads included)
	)
	ev := &holdingEvents{release: make(chan struct{}), accepted: make(chan sdk.Socket, 1), finished: make(chan struct{}), dropped: make(chan error, 1)}
	ev.hash.h = sha256.New()
	d, _ := open(t, ev, nil)
	_, port := listenZero(t, d)

	runtime.GC()
	base := heapBytes()
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Go(func() {
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapBytes(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-tick.C:
			case <-stopSampling:
				return
			}
		}
	})
	defer func() { close(stopSampling); sampler.Wait() }()

	c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var written atomic.Int64
	sent := make(chan []byte, 1)
	go func() {
		h := sha256.New()
		buf := make([]byte, chunk)
		rand.NewChaCha8([32]byte{42}).Read(buf)
		for i := range total / chunk {
			binary.BigEndian.PutUint64(buf, uint64(i)) // each chunk differs
			if _, err := c.Write(buf); err != nil {
				sent <- nil
				return
			}
			h.Write(buf)
			written.Add(chunk)
		}
		sent <- h.Sum(nil)
	}()

	select {
	case <-ev.accepted:
	case <-time.After(watchdog):
		t.Fatal("watchdog: no Accepted")
	}
	time.Sleep(hold)
	holdPeak := peak.Load()
	heldBack := written.Load()
	if !ev.held.Load() {
		t.Error("the handler was never called while the peer pushed")
	}
	if heldBack >= total {
		t.Errorf("the peer wrote all %d bytes while the handler slept: nothing held it back", total)
	}
	if holdPeak > base+holdBound {
		t.Errorf("heap grew by %d KiB while the handler slept (bound %d KiB)", (holdPeak-base)>>10, holdBound>>10)
	}
	t.Logf("while the handler slept %v: peer wrote %d KiB of %d KiB, heap +%d KiB (the peer's own 1 MiB buffer included)",
		hold, heldBack>>10, total>>10, (holdPeak-base)>>10)

	start := time.Now()
	close(ev.release)
	var want []byte
	select {
	case want = <-sent:
	case <-time.After(watchdog):
		t.Fatalf("watchdog: peer still writing (%d of %d bytes) after %v", written.Load(), total, watchdog)
	}
	if want == nil {
		t.Fatal("the peer's write failed")
	}
	deadline := time.Now().Add(watchdog)
	for ev.got.Load() < total && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := ev.got.Load(); got != total {
		t.Fatalf("received %d bytes, want %d", got, total)
	}
	ev.hash.mu.Lock()
	sum := ev.hash.h.Sum(nil)
	ev.hash.mu.Unlock()
	if !bytes.Equal(sum, want) {
		t.Errorf("checksum of the received bytes differs from the sent ones")
	}
	if p := peak.Load(); p > base+fullBound {
		t.Errorf("heap grew by %d KiB during the transfer (bound %d KiB)", (p-base)>>10, fullBound>>10)
	}
	t.Logf("drained %d MiB in %v, heap peak +%d KiB", total>>20, time.Since(start), (peak.Load()-base)>>10)
	c.Close()
	select {
	case <-ev.finished:
	case reason := <-ev.dropped:
		t.Errorf("dropped (%v) after the peer closed, want Finished", reason)
	case <-time.After(watchdog):
		t.Fatal("watchdog: no Finished after the peer closed")
	}
}
