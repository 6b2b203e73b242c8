package remote

import (
	"context"
	"sync"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

// writers runs the host's writes on the driver: one queue per socket,
// drained by a worker goroutine that exists while the queue is not empty,
// so a Send blocked on one socket never holds back another's. Memory is
// bounded by the host, which keeps a bounded number of bytes in flight per
// socket.
//
// A socket's queue lives as long as the socket (until the host closes it or
// the driver drops it): it carries the progress of the call being written
// and which calls are abandoned, across the moments the queue is empty.
type writers struct {
	driver sdk.Driver
	sink   *sink

	mu      sync.Mutex
	queues  map[sdk.Socket]*writeQueue
	closed  bool
	ctx     context.Context
	cancel  context.CancelFunc
	workers sync.WaitGroup
}

type writeQueue struct {
	sock    sdk.Socket
	pending []*wire.Write
	running bool
	gone    bool               // the socket ended: delete the queue when idle
	current uint64             // the call id being written
	stop    context.CancelFunc // cancels the write in progress
	// abandonedUpTo is the highest call id abandoned by the host or failed.
	// The host runs one Send per socket at a time, with growing ids, so
	// every chunk with an id at or below it belongs to a call that is over.
	abandonedUpTo uint64
	taken         int // bytes of the current call not reported yet
}

// progressStep is how many bytes of a call the driver takes between two
// progress reports: a quarter of the host's send window, so the host always
// has room to send more.
const progressStep = 256 << 10

func newWriters(d sdk.Driver, k *sink) *writers {
	ctx, cancel := context.WithCancel(context.Background())
	return &writers{driver: d, sink: k, queues: make(map[sdk.Socket]*writeQueue), ctx: ctx, cancel: cancel}
}

func (w *writers) queueLocked(s sdk.Socket) *writeQueue {
	q := w.queues[s]
	if q == nil {
		q = &writeQueue{sock: s}
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
	q := w.queueLocked(sdk.Socket(wr.Socket))
	if wr.Id <= q.abandonedUpTo {
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
func (w *writers) abandon(s sdk.Socket, id uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queueLocked(s)
	q.abandonedUpTo = max(q.abandonedUpTo, id)
	if q.current == id && q.stop != nil {
		q.stop()
	}
}

// forget drops the queue of a socket that ended.
func (w *writers) forget(s sdk.Socket) {
	w.mu.Lock()
	defer w.mu.Unlock()
	q := w.queues[s]
	if q == nil {
		return
	}
	q.pending = nil
	if q.running {
		q.gone = true // the worker deletes it as it leaves
		return
	}
	delete(w.queues, s)
}

// run is a socket's worker: it writes queued chunks in order and reports
// their progress to the host.
func (w *writers) run(q *writeQueue) {
	defer w.workers.Done()
	for {
		w.mu.Lock()
		var wr *wire.Write
		for len(q.pending) > 0 && wr == nil {
			wr = q.pending[0]
			q.pending[0] = nil
			q.pending = q.pending[1:]
			if wr.Id <= q.abandonedUpTo {
				wr = nil
			}
		}
		if wr == nil {
			q.running = false
			if q.gone {
				delete(w.queues, q.sock)
			}
			w.mu.Unlock()
			return
		}
		if wr.Id != q.current {
			q.taken = 0 // a new call
		}
		ctx, stop := context.WithCancel(w.ctx)
		q.current, q.stop = wr.Id, stop
		w.mu.Unlock()

		err := w.driver.Send(ctx, q.sock, wr.Data)
		stop()

		w.mu.Lock()
		q.stop = nil
		abandoned := wr.Id <= q.abandonedUpTo
		if err != nil {
			q.abandonedUpTo = max(q.abandonedUpTo, wr.Id)
		}
		var report bool
		var n int
		switch {
		case abandoned:
			// The host gave up on this call; it expects no answer.
		case err != nil:
			report, n = true, q.taken
		default:
			q.taken += len(wr.Data)
			if wr.Last || q.taken >= progressStep {
				report, n = true, q.taken
				q.taken = 0
			}
		}
		w.mu.Unlock()
		if report {
			w.sink.written(q.sock, wr.Id, n, wr.Last || err != nil, err)
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
