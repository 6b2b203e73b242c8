package remote

import "sync"

// lane runs one socket's items in order, one at a time, on a goroutine that
// exists only while items are queued: an idle socket costs no goroutine, and
// a slow item holds back its own socket alone. The host side runs a
// socket's events through one, the plugin side its writes and closes.
//
// Ownership: the goroutine belongs to the WaitGroup given at push; whoever
// owns that group waits for it. Safe for concurrent use.
type lane[T any] struct {
	// drop, if set, is told of every item dropped unrun (after stop), so
	// that what the item holds is given back.
	drop func(T)

	mu      sync.Mutex
	items   []T
	running bool
	stopped bool
}

// push queues x and starts the goroutine, counted in wg, that calls run for
// each item in order until the queue is empty; run returning false stops the
// lane. push reports false, dropping x, once the lane stopped.
func (l *lane[T]) push(x T, wg *sync.WaitGroup, run func(T) bool) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false // x is the caller's again: not dropped
	}
	l.items = append(l.items, x)
	if !l.running {
		l.running = true
		wg.Add(1)
		go l.loop(wg, run)
	}
	return true
}

func (l *lane[T]) loop(wg *sync.WaitGroup, run func(T) bool) {
	defer wg.Done()
	var zero T
	for {
		l.mu.Lock()
		if len(l.items) == 0 || l.stopped {
			l.running = false
			l.mu.Unlock()
			return
		}
		x := l.items[0]
		l.items[0] = zero
		l.items = l.items[1:]
		if len(l.items) == 0 {
			l.items = nil
		}
		l.mu.Unlock()
		if !run(x) {
			l.stop()
		}
	}
}

// claim marks an idle lane (nothing queued, nothing running) as running for
// the caller, who then runs one item itself and calls release. It reports
// false when the item must be pushed instead.
func (l *lane[T]) claim() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running || l.stopped || len(l.items) > 0 {
		return false
	}
	l.running = true
	return true
}

// release ends a claim: ok is what run returned for the item. Items queued
// meanwhile get the lane's goroutine.
func (l *lane[T]) release(ok bool, wg *sync.WaitGroup, run func(T) bool) {
	if !ok {
		l.stop()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.items) > 0 && !l.stopped {
		wg.Add(1)
		go l.loop(wg, run)
		return
	}
	l.running = false
}

// stop drops the queued items and every later one; an item being run
// finishes.
func (l *lane[T]) stop() {
	l.mu.Lock()
	l.stopped = true
	dropped := l.items
	l.items = nil
	l.mu.Unlock()
	if l.drop != nil {
		for _, x := range dropped {
			l.drop(x)
		}
	}
}
