package sdk

import (
	"context"
	"sync"

	"ifsock/internal/wire"
)

// writers runs the host's writes on the driver: one queue per socket,
// drained by a worker goroutine that exists while the queue is not empty,
// so a Send blocked on one socket never holds back another's. Memory is
// bounded by the host, which keeps a bounded number of bytes in flight per
// socket.
type writers struct {
	driver Driver
	sink   *sink

	mu      sync.Mutex
	queues  map[Socket]*writeQueue
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup
}

type writeQueue struct {
	sock     Socket
	pending  []*wire.Write
	running  bool
	current  uint64             // the call id being written
	stop     context.CancelFunc // cancels the write in progress
	canceled map[uint64]bool    // calls abandoned by the host or failed
	taken    int                // bytes of the current call not reported yet
}

// progressStep is how many bytes of a call the driver takes between two
// progress reports: a quarter of the host's send window.
const progressStep = 256 << 10

func newWriters(d Driver, k *sink) *writers {
	ctx, cancel := context.WithCancel(context.Background())
	return &writers{driver: d, sink: k, queues: make(map[Socket]*writeQueue), ctx: ctx, cancel: cancel}
}

func (w *writers) queueLocked(s Socket) *writeQueue {
	q := w.queues[s]
	if q == nil {
		q = &writeQueue{sock: s, canceled: make(map[uint64]bool)}
		w.queues[s] = q
	}
	return q
}

// add queues a write and starts the socket's worker if needed.
func (w *writers) add(wr *wire.Write) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	q := w.queueLocked(Socket(wr.Socket))
	if q.canceled[wr.Id] {
		return
	}
	q.pending = append(q.pending, wr)
	if !q.running {
		q.running = true
		w.workers.Add(1)
		go w.run(q)
	}
}

// abandon drops what is left of a call, and stops it if it is being
// written.
func (w *writers) abandon(s Socket, id uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queues[s]
	if q == nil {
		return
	}
	q.canceled[id] = true
	if q.current == id && q.stop != nil {
		q.stop()
	}
}

// run is a socket's worker: it writes queued chunks in order and reports
// each to the host.
func (w *writers) run(q *writeQueue) {
	defer w.workers.Done()
	for {
		w.mu.Lock()
		var wr *wire.Write
		for len(q.pending) > 0 && wr == nil {
			wr = q.pending[0]
			q.pending[0] = nil
			q.pending = q.pending[1:]
			if q.canceled[wr.Id] {
				wr = nil
			}
		}
		if wr == nil {
			q.running = false
			if len(q.canceled) > 64 {
				clear(q.canceled) // ids only grow: old ones cannot come back
			}
			if len(q.pending) == 0 {
				delete(w.queues, q.sock)
			}
			w.mu.Unlock()
			return
		}
		ctx, stop := context.WithCancel(w.ctx)
		q.current, q.stop = wr.Id, stop
		w.mu.Unlock()

		err := w.driver.Send(ctx, q.sock, wr.Data)
		stop()

		w.mu.Lock()
		q.current, q.stop = 0, nil
		abandoned := q.canceled[wr.Id]
		if err != nil {
			q.canceled[wr.Id] = true
		}
		w.mu.Unlock()
		switch {
		case abandoned:
			// The host gave up on this call; it expects no answer.
			q.taken = 0
		case err != nil:
			w.sink.written(q.sock, wr.Id, q.taken, true, err)
			q.taken = 0
		default:
			// Progress is reported at the end of a call, and every quarter
			// window on the way so the host can send more: not per chunk.
			q.taken += len(wr.Data)
			if wr.Last || q.taken >= progressStep {
				w.sink.written(q.sock, wr.Id, q.taken, wr.Last, nil)
				q.taken = 0
			}
		}
	}
}

// close stops every write in progress and waits for the workers.
func (w *writers) close() {
	w.mu.Lock()
	w.closed = true
	w.cancel()
	w.mu.Unlock()
	w.workers.Wait()
}
