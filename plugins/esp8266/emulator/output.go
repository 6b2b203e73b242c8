package emulator

import (
	"io"
	"sync"
)

// output is the single path from the firmware to the serial stream: an
// unbounded FIFO of whole messages drained by one writer goroutine. Because
// one goroutine writes whole messages in order, two messages never interleave.
//
// push and pending may be called from any goroutine (in practice only the
// firmware goroutine pushes); run is the writer goroutine's body.
type output struct {
	mu      sync.Mutex
	items   []outItem
	queued  int           // bytes queued or being written
	wake    chan struct{} // cap 1: items were added
	drained chan struct{} // cap 1: queued fell below lowWater
	failed  chan error    // cap 1: the stream failed; the writer has stopped
}

// outItem is a message, or a baud-rate change that applies once every byte
// queued before it has been written (AT+UART_CUR: OK goes out at the old rate).
type outItem struct {
	data []byte
	baud int
}

// lowWater is the queue level under which the writer tells the firmware it
// may read more socket data for active-mode +IPD.
const lowWater = 4096

func newOutput() *output {
	return &output{
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}, 1),
		failed:  make(chan error, 1),
	}
}

func (o *output) push(b []byte) {
	if len(b) == 0 {
		return
	}
	o.mu.Lock()
	o.items = append(o.items, outItem{data: b})
	o.queued += len(b)
	o.mu.Unlock()
	signal(o.wake)
}

func (o *output) pushBaud(baud int) {
	o.mu.Lock()
	o.items = append(o.items, outItem{baud: baud})
	o.mu.Unlock()
	signal(o.wake)
}

func (o *output) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.queued
}

func (o *output) pop() (outItem, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.items) == 0 {
		return outItem{}, false
	}
	it := o.items[0]
	o.items[0] = outItem{}
	o.items = o.items[1:]
	return it, true
}

// run writes queued items to w, paced by th, until done is closed or w fails.
// written is called with each count of bytes written.
func (o *output) run(w io.Writer, th *throttle, done <-chan struct{}, written func(int)) {
	for {
		it, ok := o.pop()
		if !ok {
			select {
			case <-o.wake:
				continue
			case <-done:
				return
			}
		}
		if it.data == nil {
			th.setBaud(it.baud)
			continue
		}
		b := it.data
		for len(b) > 0 {
			n := min(len(b), th.chunk())
			if !th.wait(done, n) {
				return
			}
			k, err := w.Write(b[:n])
			if k > 0 {
				written(k)
				o.mu.Lock()
				o.queued -= k
				low := o.queued < lowWater
				o.mu.Unlock()
				if low {
					signal(o.drained)
				}
			}
			if err != nil {
				select {
				case o.failed <- err:
				default:
				}
				return
			}
			b = b[k:]
		}
	}
}

// signal does a non-blocking send on a capacity-1 channel.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
