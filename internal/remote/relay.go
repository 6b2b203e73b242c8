package remote

import (
	"sync"
	"time"
)

// relay runs a data path's reader. The goroutine that reads a frame may run
// the work it brings itself, inline, when the frame's socket has nothing
// else queued: at low load an event or a write then costs no goroutine
// hand-off at all. If inline work takes longer than handoffAfter (a handler
// that is slow, a write waiting for the peer), a new goroutine takes over
// reading, so slow work holds back its own socket alone (rule 6), and the
// old goroutine ends when its work does.
//
// Ownership: every reader goroutine is counted in wg; the relay ends when a
// read fails, after calling onEnd once.
type relay struct {
	mu    sync.Mutex // held by the goroutine that reads frames
	wg    *sync.WaitGroup
	read  func() (inline func(), err error) // reads and dispatches one frame
	onEnd func(error)
}

// handoffAfter is how long inline work may hold the reader before another
// goroutine takes over reading.
const handoffAfter = 100 * time.Microsecond

// start starts a reader goroutine.
func (r *relay) start() {
	r.wg.Add(1)
	go r.loop()
}

func (r *relay) loop() {
	defer r.wg.Done()
	var handoff *time.Timer
	r.mu.Lock()
	for {
		inline, err := r.read()
		if err != nil {
			r.mu.Unlock()
			r.onEnd(err)
			return
		}
		if inline == nil {
			continue
		}
		r.mu.Unlock()
		if handoff == nil {
			handoff = time.AfterFunc(handoffAfter, r.start)
		} else {
			handoff.Reset(handoffAfter)
		}
		inline()
		if !handoff.Stop() {
			return // another goroutine reads now
		}
		r.mu.Lock()
	}
}
