package remote

import (
	"sync"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

// outbox collects what the host sends on the session stream: writes,
// cancels and credits. The stream's one writer goroutine drains it in
// batches. Safe for concurrent use.
type outbox struct {
	mu      sync.Mutex
	writes  []*wire.Write
	cancels []*wire.Cancel
	credits map[sdk.Socket]int64
	signal  chan struct{}
}

func newOutbox() *outbox {
	return &outbox{credits: make(map[sdk.Socket]int64), signal: make(chan struct{}, 1)}
}

func (o *outbox) wake() {
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

func (o *outbox) write(w *wire.Write) {
	o.mu.Lock()
	o.writes = append(o.writes, w)
	o.mu.Unlock()
	o.wake()
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
	o.mu.Unlock()
	o.wake()
}

func (o *outbox) credit(s sdk.Socket, n int64) {
	o.mu.Lock()
	o.credits[s] += n
	o.mu.Unlock()
	o.wake()
}

// next waits for something to send and returns it as one batch of at most
// wire.MaxBatch data bytes; ok is false once stop is closed.
func (o *outbox) next(stop <-chan struct{}) (batch *wire.HostBatch, ok bool) {
	for {
		o.mu.Lock()
		if len(o.writes) > 0 || len(o.cancels) > 0 || len(o.credits) > 0 {
			batch = &wire.HostBatch{Cancels: o.cancels}
			o.cancels = nil
			for s, n := range o.credits {
				batch.Credits = append(batch.Credits, &wire.Credit{Socket: uint64(s), Bytes: uint32(n)})
			}
			clear(o.credits)
			size, n := 0, 0
			for n < len(o.writes) && size < wire.MaxBatch {
				size += len(o.writes[n].Data)
				n++
			}
			batch.Writes = o.writes[:n:n]
			o.writes = o.writes[n:]
			if len(o.writes) == 0 {
				o.writes = nil
			}
			o.mu.Unlock()
			return batch, true
		}
		o.mu.Unlock()
		select {
		case <-o.signal:
		case <-stop:
			return nil, false
		}
	}
}
