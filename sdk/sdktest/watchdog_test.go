package sdktest

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records what a watchdog does to its test.
type fakeTB struct {
	testing.TB
	mu       sync.Mutex
	errors   []string
	cleanups []func()
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

func TestWatchdogFires(t *testing.T) {
	tb := &fakeTB{}
	w := startWatchdog(tb, "Stuck", 10*time.Millisecond, time.Hour)
	hooked := make(chan struct{})
	w.onFire(func() { close(hooked) })
	select {
	case <-hooked:
	case <-time.After(10 * time.Second):
		t.Fatal("the watchdog did not run its hook")
	}
	for _, fn := range tb.cleanups {
		fn()
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.errors) != 1 || !strings.Contains(tb.errors[0], "Stuck did not finish") || !strings.Contains(tb.errors[0], "goroutine ") {
		t.Errorf("errors %q, want one naming the subtest, with a goroutine dump", tb.errors)
	}
}

func TestWatchdogStopped(t *testing.T) {
	tb := &fakeTB{}
	w := startWatchdog(tb, "Quick", 20*time.Millisecond, 20*time.Millisecond)
	w.onFire(func() { t.Error("a stopped watchdog fired") })
	w.stop()
	time.Sleep(60 * time.Millisecond) // past both deadlines: neither may act
	if len(tb.errors) != 0 {
		t.Errorf("errors %q from a stopped watchdog", tb.errors)
	}
}
