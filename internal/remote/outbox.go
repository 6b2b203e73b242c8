package remote

import (
	"io"
	"sync"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

// outbox collects what the host sends on the data path: writes, cancels
// and credits. Whoever adds something writes the collection out itself when
// no one else is writing (flat combining): a Send costs no goroutine
// hand-off at low load, and under load one frame carries many items. Safe
// for concurrent use.
type outbox struct {
	mu      sync.Mutex
	writes  []*wire.Write
	cancels []*wire.Cancel
	credits map[sdk.Socket]int64
	fw      *wire.FrameWriter // nil until the data path is up
	conn    io.Closer         // closed when a write fails, so the session ends visibly
	writing bool
	broken  bool // a write failed or the path closed
}

func newOutbox() *outbox {
	return &outbox{credits: make(map[sdk.Socket]int64)}
}

func (o *outbox) write(w *wire.Write) {
	o.mu.Lock()
	if o.broken {
		o.mu.Unlock()
		return
	}
	o.writes = append(o.writes, w)
	o.flushLocked()
}

// cancel abandons call id on s: its chunks not sent yet are dropped here,
// and the driver is told to drop those it has not taken.
func (o *outbox) cancel(s sdk.Socket, id uint64) {
	o.mu.Lock()
	kept := o.writes[:0]
	for _, w := range o.writes {
		if w.Id != id {
			kept = append(kept, w)
		}
	}
	clear(o.writes[len(kept):])
	o.writes = kept
	o.cancels = append(o.cancels, &wire.Cancel{Socket: uint64(s), Id: id})
	o.flushLocked()
}

func (o *outbox) credit(s sdk.Socket, n int64) {
	o.mu.Lock()
	o.credits[s] += n
	o.flushLocked()
}

// attach starts writing to the data path; conn is closed if a write fails.
func (o *outbox) attach(fw *wire.FrameWriter, conn io.Closer) {
	o.mu.Lock()
	o.fw, o.conn = fw, conn
	o.flushLocked()
}

// stop ends writing: later items are dropped.
func (o *outbox) stop() {
	o.mu.Lock()
	o.broken = true
	o.writes, o.cancels = nil, nil
	clear(o.credits)
	o.mu.Unlock()
}

// flushLocked writes everything out, at most wire.MaxBatch data bytes a
// frame, unless someone else is writing; called with o.mu held, it
// releases it.
func (o *outbox) flushLocked() {
	if o.writing || o.fw == nil || o.broken {
		o.mu.Unlock()
		return
	}
	o.writing = true
	for !o.broken && (len(o.writes) > 0 || len(o.cancels) > 0 || len(o.credits) > 0) {
		batch := &wire.HostBatch{Cancels: o.cancels}
		o.cancels = nil
		for s, n := range o.credits {
			batch.Credits = append(batch.Credits, &wire.Credit{Socket: uint64(s), Bytes: uint32(n)})
		}
		clear(o.credits)
		size, n := 0, 0
		for n < len(o.writes) && size < wire.MaxBatch && n < wire.MaxBatchItems {
			size += len(o.writes[n].Data)
			n++
		}
		batch.Writes = o.writes[:n:n]
		o.writes = o.writes[n:]
		if len(o.writes) == 0 {
			o.writes = nil
		}
		fw := o.fw
		o.mu.Unlock()
		err := fw.Write(batch)
		o.mu.Lock()
		if err != nil {
			// The session is over: end it visibly (the reader sees the
			// close and the plugin is reaped) rather than stall.
			o.broken = true
			o.writes, o.cancels = nil, nil
			clear(o.credits)
			if o.conn != nil {
				o.conn.Close()
			}
		}
	}
	o.writing = false
	o.mu.Unlock()
}
