package delaynet

import (
	"errors"
	"sync"
	"time"
)

// guide:line

// line is one direction of the simulated link: a bounded queue of chunks,
// each released when it would come out of a link with the given delay and
// rate. A chunk put at time a starts crossing when the link is free
// (serialization at rate bytes per second) and comes out delay later, so
// the latency does not cost throughput, as on a real long link.
//
// Ownership: the socket that made it. Any goroutine may put (the socket's
// Sends take turns, so there is one producer at a time), one goroutine gets.
// A line holds at most limit bytes: put blocks beyond it, which is how the
// line passes back-pressure on, and keeps memory bounded. close wakes
// every waiter at once and drops what is queued.
type line struct {
	delay time.Duration
	rate  int // bytes per second, 0: unlimited
	limit int // bytes queued at most

	mu      sync.Mutex
	queue   []chunk
	bytes   int           // bytes in queue
	busy    time.Time     // when the link has finished sending what is queued
	ended   bool          // a marker is queued: no more data
	closed  bool          // closed: get and put fail at once
	changed chan struct{} // closed and replaced at every change
	timer   *time.Timer   // the getter's, reused
}

// chunk is what crosses a line: data, or a marker (end set) that ends the
// data: errFin, errLocalClose or the reason of a drop.
type chunk struct {
	data []byte
	end  error
	due  time.Time // when it comes out of the line
}

// guide:end

// errLineClosed is put's answer on a line that takes no more data.
var errLineClosed = errors.New("line closed")

func newLine(delay time.Duration, rate, limit int) *line {
	return &line{delay: delay, rate: rate, limit: limit, changed: make(chan struct{})}
}

// put queues data, waiting while the line is full. It fails with
// errLineClosed once the line is closed or ended, and returns done's
// closing as errDone.
func (l *line) put(done <-chan struct{}, data []byte) error {
	l.mu.Lock()
	for !l.closed && !l.ended && l.bytes > 0 && l.bytes+len(data) > l.limit {
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-done:
			return errDone
		}
		l.mu.Lock()
	}
	defer l.mu.Unlock()
	if l.closed || l.ended {
		return errLineClosed
	}
	l.push(chunk{data: data})
	return nil
}

// errDone is put's answer when its done channel closed.
var errDone = errors.New("done")

// mark queues a marker after the data: nothing more is put after it. A
// marker takes no room, so mark never blocks.
func (l *line) mark(end error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.ended = true
		l.push(chunk{end: end})
	}
}

// guide:push

// push queues c with its due time; l.mu is held.
func (l *line) push(c chunk) {
	start := time.Now()
	if l.busy.After(start) {
		start = l.busy
	}
	l.busy = start
	if l.rate > 0 {
		l.busy = start.Add(time.Duration(len(c.data)) * time.Second / time.Duration(l.rate))
	}
	c.due = l.busy.Add(l.delay)
	l.queue = append(l.queue, c)
	l.bytes += len(c.data)
	l.notify()
}

// guide:end

// get waits for the first chunk to come out of the line and returns it.
// ok is false once the line is closed.
func (l *line) get() (c chunk, ok bool) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return chunk{}, false
		}
		var wait <-chan time.Time
		if len(l.queue) > 0 {
			c = l.queue[0]
			d := time.Until(c.due)
			if d <= 0 {
				l.queue[0] = chunk{}
				l.queue = l.queue[1:]
				l.bytes -= len(c.data)
				l.notify()
				l.mu.Unlock()
				return c, true
			}
			if l.timer == nil {
				l.timer = time.NewTimer(d)
			} else {
				l.timer.Reset(d)
			}
			wait = l.timer.C
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-wait:
		}
	}
}

// close drops what is queued and wakes put and get, which fail from now on.
func (l *line) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		l.queue, l.bytes = nil, 0
		l.notify()
	}
}

// notify wakes every waiter; l.mu is held.
func (l *line) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}
