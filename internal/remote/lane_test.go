package remote

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestLaneRunsInOrderOneAtATime: a lane's items run in push order, never two
// at once, whether run by its goroutine or claimed inline; stop drops what
// is queued and later pushes.
func TestLaneRunsInOrderOneAtATime(t *testing.T) {
	var l lane[int]
	var wg sync.WaitGroup
	var running atomic.Int32
	var mu sync.Mutex
	var got []int
	run := func(x int) bool {
		if running.Add(1) > 1 {
			t.Error("two items of one lane ran at once")
		}
		mu.Lock()
		got = append(got, x)
		mu.Unlock()
		time.Sleep(10 * time.Microsecond)
		running.Add(-1)
		return true
	}
	for k := range 300 {
		if k%3 == 0 && l.claim() {
			l.release(run(k), &wg, run)
			continue
		}
		l.push(k, &wg, run)
	}
	wg.Wait()
	for k, x := range got {
		if x != k {
			t.Fatalf("item %d ran as number %d", x, k)
		}
	}
	if len(got) != 300 {
		t.Fatalf("ran %d of 300 items", len(got))
	}
	l.push(1, &wg, func(int) bool { return false }) // stops the lane
	wg.Wait()
	if l.push(2, &wg, run) {
		t.Error("push on a stopped lane was taken")
	}
	if l.claim() {
		t.Error("a stopped lane was claimed")
	}
}

// TestRelayHandsOverSlowWork: work that takes longer than handoffAfter
// does not stop the reading: another goroutine reads the next frames.
func TestRelayHandsOverSlowWork(t *testing.T) {
	var wg sync.WaitGroup
	release := make(chan struct{})
	var reads atomic.Int32
	done := make(chan error, 1)
	r := &relay{wg: &wg, onEnd: func(err error) { done <- err }}
	r.read = func() (func(), error) {
		switch reads.Add(1) {
		case 1:
			return func() { <-release }, nil // slow work, inline
		case 2, 3:
			return nil, nil
		default:
			return nil, errStop
		}
	}
	r.start()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reading stopped behind slow inline work")
	}
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 4 {
		t.Errorf("%d reads, want 4", n)
	}
}

var errStop = stopErr{}

type stopErr struct{}

func (stopErr) Error() string { return "stop" }
