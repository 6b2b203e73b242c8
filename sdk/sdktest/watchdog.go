package sdktest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// watchdog bounds a subtest. When its budget runs out it fails the subtest
// with a goroutine dump and runs its hooks, which cancel the subtest's calls
// and waits so that the subtest ends. If the subtest is still running a grace
// period later (a driver that ignores its contexts), it panics with a second
// dump rather than hang the whole run until go test's own timeout.
type watchdog struct {
	t      testing.TB
	name   string
	budget time.Duration
	grace  time.Duration
	soft   *time.Timer
	hard   *time.Timer

	mu    sync.Mutex
	done  bool
	fired bool
	hooks []func()
}

func startWatchdog(t testing.TB, name string, budget, grace time.Duration) *watchdog {
	w := &watchdog{t: t, name: name, budget: budget, grace: grace}
	w.soft = time.AfterFunc(budget, w.fire)
	w.hard = time.AfterFunc(budget+grace, w.abort)
	t.Cleanup(w.stop)
	return w
}

// onFire adds a hook run when the watchdog fires (at once if it has).
func (w *watchdog) onFire(f func()) {
	w.mu.Lock()
	if w.fired {
		w.mu.Unlock()
		f()
		return
	}
	w.hooks = append(w.hooks, f)
	w.mu.Unlock()
}

func (w *watchdog) fire() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.fired = true
	hooks := w.hooks
	w.t.Errorf("sdktest: subtest %s did not finish within %v: the driver hangs (or Harness.Slow is too small); canceling its calls. Goroutines:\n%s",
		w.name, w.budget, goroutines())
	w.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}

func (w *watchdog) abort() {
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if !done {
		panic(fmt.Sprintf("sdktest: subtest %s still blocked %v after its watchdog fired: the driver ignores canceled contexts. Goroutines:\n%s",
			w.name, w.grace, goroutines()))
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	w.soft.Stop()
	w.hard.Stop()
}

// goroutines returns the stacks of every goroutine.
func goroutines() []byte {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 8<<20 {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}
