package remote

import (
	"sync"
	"sync/atomic"
	"time"
)

// relay runs a data path's reader. The goroutine that reads a frame runs
// the work the frame brings itself, inline, when the frame's socket has
// nothing else queued: at low load an event or a write then costs no
// goroutine hand-off at all. If inline work is still running after
// handoffAfter (a handler that is slow, a write waiting for its peer), a
// watchdog starts a new goroutine that takes over reading, so slow work
// holds back its own socket alone (rule 6); the old goroutine ends when its
// work does.
//
// The watchdog ticks only while inline work goes on and stops after a few
// idle ticks: arming a short timer per item instead would interrupt the
// runtime's network poller at every item, which costs more than the
// hand-off the inline work saves.
//
// Ownership: every reader goroutine and the watchdog are counted in wg;
// the relay ends when a read fails, after calling onEnd once.
type relay struct {
	mu    sync.Mutex // held by the goroutine that reads frames
	wg    *sync.WaitGroup
	read  func() (inline func(), err error) // reads and dispatches one frame
	onEnd func(error)

	seq      atomic.Uint64 // numbers inline work
	running  atomic.Uint64 // the inline work running, 0 when none
	watching atomic.Bool   // the watchdog runs
	ended    atomic.Bool
}

// handoffAfter is how long inline work may hold the reader, at least,
// before another goroutine takes over reading (at most about twice that).
const handoffAfter = time.Millisecond

// watchIdle is how many idle ticks the watchdog waits before it stops.
const watchIdle = 8

// start starts a reader goroutine.
func (r *relay) start() {
	r.wg.Add(1)
	go r.loop()
}

func (r *relay) loop() {
	defer r.wg.Done()
	r.mu.Lock()
	for {
		inline, err := r.read()
		if err != nil {
			r.ended.Store(true)
			r.mu.Unlock()
			r.onEnd(err)
			return
		}
		if inline == nil {
			continue
		}
		id := r.seq.Add(1)
		r.running.Store(id)
		r.mu.Unlock()
		if !r.watching.Load() && r.watching.CompareAndSwap(false, true) {
			r.wg.Add(1)
			go r.watch()
		}
		inline()
		if !r.running.CompareAndSwap(id, 0) {
			return // the watchdog handed reading to another goroutine
		}
		r.mu.Lock()
	}
}

// watch is the watchdog: inline work seen running at two ticks in a row
// gets a new reader started beside it.
func (r *relay) watch() {
	defer r.wg.Done()
	idle := 0
	for !r.ended.Load() {
		id := r.running.Load()
		time.Sleep(handoffAfter)
		switch {
		case id != 0 && r.running.CompareAndSwap(id, 0):
			r.start()
			idle = 0
		case r.running.Load() == 0:
			idle++
		default:
			idle = 0
		}
		if idle >= watchIdle {
			r.watching.Store(false)
			// Inline work that started meanwhile saw a watchdog running:
			// keep watching for it.
			if r.running.Load() == 0 || !r.watching.CompareAndSwap(false, true) {
				return
			}
			idle = 0
		}
	}
}
