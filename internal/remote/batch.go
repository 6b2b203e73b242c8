package remote

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// batchWriter writes frames to the data path for many goroutines at once,
// both sides' one writer. Whoever queues a frame writes the queue out itself
// when no one else is writing (flat combining): at low load a frame costs no
// goroutine hand-off, and under load one writev carries many frames.
//
// Payloads are not copied: a data frame's bytes are written from the slice
// the caller gave, so a caller that gets its slice back (a host Send) waits
// for its frame to be written with wait. Small payloads are copied next to
// their header. Safe for concurrent use.
type batchWriter struct {
	w io.Writer

	mu      sync.Mutex
	bufs    net.Buffers // queued, not yet written
	hdrs    []byte      // headers and small payloads of the queued frames
	tail    int         // where in hdrs the last buffer of bufs starts, or -1
	spare   net.Buffers // the last batch's slices, reused
	spareH  []byte
	queued  uint64 // frames ever queued
	written uint64 // frames ever written (or dropped after a failure)
	writing bool
	flushed chan struct{} // closed and replaced after each write
	err     error         // the first write error: nothing more is written
	onErr   func(error)   // called once, without the lock, on the first error

	// A write blocked for stall (the peer process alive but not reading)
	// ends the session: stalled is closed, which fails the write. A
	// watchdog ticks only while writes go on (see relay for why not a
	// deadline per write).
	stall    time.Duration
	stalled  io.Closer
	since    atomic.Int64 // when the write under way began (unix ns), 0 if none
	watching atomic.Bool
	ended    chan struct{} // closed when the writer fails: the watchdog stops
	endOnce  sync.Once
}

// end stops the writer's watchdog; called on the first failure.
func (b *batchWriter) end() { b.endOnce.Do(func() { close(b.ended) }) }

// watchStall makes a write blocked for longer than d close c.
func (b *batchWriter) watchStall(d time.Duration, c io.Closer) *batchWriter {
	b.stall, b.stalled = d, c
	return b
}

// watch is the stall watchdog: it stops after a few ticks with no write,
// or when the writer fails (the session is over).
func (b *batchWriter) watch() {
	tick := max(b.stall/8, time.Millisecond)
	idle := 0
	timer := time.NewTimer(tick)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
			timer.Reset(tick)
		case <-b.ended:
			b.watching.Store(false)
			return
		}
		since := b.since.Load()
		switch {
		case since != 0 && time.Since(time.Unix(0, since)) > b.stall:
			b.stalled.Close()
			b.watching.Store(false)
			return
		case since == 0:
			idle++
		default:
			idle = 0
		}
		if idle >= 4 {
			b.watching.Store(false)
			if b.since.Load() == 0 || !b.watching.CompareAndSwap(false, true) {
				return
			}
			idle = 0
		}
	}
}

func newBatchWriter(w io.Writer, onErr func(error)) *batchWriter {
	return &batchWriter{w: w, tail: -1, flushed: make(chan struct{}), onErr: onErr, ended: make(chan struct{})}
}

// put queues a frame and returns its sequence number, for wait. small is
// copied; data is written from place. The caller then calls kick (or wait)
// so that it is written; put alone never writes, so it may be called under
// the caller's own locks to keep frames in the order of its state changes.
func (b *batchWriter) put(typ frameType, id uint64, small, data []byte) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.queued++
	if b.err != nil {
		b.written = b.queued
		return b.queued
	}
	start := len(b.hdrs)
	before := cap(b.hdrs)
	b.hdrs = binary.BigEndian.AppendUint32(b.hdrs, uint32(headerSize-4+len(small)+len(data)))
	b.hdrs = append(b.hdrs, byte(typ))
	b.hdrs = binary.BigEndian.AppendUint64(b.hdrs, id)
	b.hdrs = append(b.hdrs, small...)
	if b.tail >= 0 && cap(b.hdrs) == before {
		// Contiguous with the last header buffer: one iovec for both.
		b.bufs[len(b.bufs)-1] = b.hdrs[b.tail:len(b.hdrs)]
	} else {
		// hdrs may have moved: earlier slices keep the old array alive.
		b.bufs = append(b.bufs, b.hdrs[start:])
		b.tail = start
	}
	if len(data) > 0 {
		b.bufs = append(b.bufs, data)
		b.tail = -1
	}
	return b.queued
}

// kick writes the queue out unless someone else is writing.
func (b *batchWriter) kick() {
	b.mu.Lock()
	if b.writing || len(b.bufs) == 0 {
		b.mu.Unlock()
		return
	}
	b.writing = true
	for len(b.bufs) > 0 && b.err == nil {
		batch, hdrs, upTo := b.bufs, b.hdrs, b.queued
		b.bufs, b.hdrs, b.tail = b.spare[:0], b.spareH[:0], -1
		b.mu.Unlock()
		out := batch
		if b.stall > 0 {
			b.since.Store(time.Now().UnixNano())
			if !b.watching.Load() && b.watching.CompareAndSwap(false, true) {
				go b.watch()
			}
		}
		_, err := out.WriteTo(b.w)
		b.since.Store(0)
		clear(batch) // let go of the callers' data
		b.mu.Lock()
		b.spare, b.spareH = batch[:0], hdrs[:0]
		b.written = upTo
		if err != nil && b.err == nil {
			b.err = err
			b.end()
			b.bufs, b.written = nil, b.queued
			if b.onErr != nil {
				go b.onErr(err)
			}
		}
		close(b.flushed)
		b.flushed = make(chan struct{})
	}
	if b.err != nil {
		// Failed meanwhile (fail, or another write): nothing more goes out.
		b.bufs, b.written = nil, b.queued
		close(b.flushed)
		b.flushed = make(chan struct{})
	}
	b.writing = false
	b.mu.Unlock()
}

// wait returns once frame seq was written (or the writer failed: then the
// error). It writes the queue itself when no one else is.
func (b *batchWriter) wait(seq uint64) error {
	b.kick()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.written < seq {
		ch := b.flushed
		b.mu.Unlock()
		<-ch
		b.mu.Lock()
	}
	return b.err
}

// fail stops the writer: queued and later frames are dropped.
func (b *batchWriter) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
	b.end()
	if !b.writing {
		b.bufs, b.written = nil, b.queued
		close(b.flushed)
		b.flushed = make(chan struct{})
	}
}
