package remote

import (
	"io"
	"net/netip"
	"sync"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

// sink is the plugin side's sdk.Events: it turns driver events into wire
// events, and holds each socket's receive credit (flow control).
//
// Received blocks while its socket has no credit; credits arrive from the
// host on the data path as it consumes data. sdk.Events queue in order in one
// list. Whoever queues an event writes the queue out itself when no one else
// is writing (flat combining): at low load an event costs no goroutine
// hand-off, and under load one writer sends many events per frame. Data
// events are bounded by the credits, so the queue is bounded too.
type sink struct {
	window int64

	mu       sync.Mutex
	sockets  map[sdk.Socket]*credit
	gone     map[sdk.Socket]struct{} // closed or dropped: late events are dropped
	goneFIFO []sdk.Socket            // the order of gone, to bound it
	queue    []*wire.Event
	fw       *wire.FrameWriter // nil until the data path is up
	conn     io.Closer         // closed when a write fails
	writing  bool              // someone is writing the queue out
	idle     chan struct{}     // closed and replaced when writing ends
	broken   bool              // a write failed: the session is over
	closed   bool              // the host is gone or the driver closed
	done     chan struct{}     // closed with closed
	// onDropped, if set, is told (without the lock) of a socket the driver
	// dropped, so the writers can forget it.
	onDropped func(sdk.Socket)
}

type credit struct {
	avail int64
	wake  chan struct{}
}

func newSink(window int64) *sink {
	return &sink{
		window:  window,
		sockets: make(map[sdk.Socket]*credit),
		gone:    make(map[sdk.Socket]struct{}),
		idle:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// socketLocked returns the credit of s, creating it with a full window the
// first time s is seen; nil when s is gone.
func (k *sink) socketLocked(s sdk.Socket) *credit {
	if _, ok := k.gone[s]; ok {
		return nil
	}
	c := k.sockets[s]
	if c == nil {
		c = &credit{avail: k.window, wake: make(chan struct{}, 1)}
		k.sockets[s] = c
	}
	return c
}

// Accepted implements sdk.Events.
func (k *sink) Accepted(listener, s sdk.Socket, peer netip.AddrPort) {
	k.mu.Lock()
	if k.closed || k.socketLocked(s) == nil {
		k.mu.Unlock()
		return
	}
	k.queue = append(k.queue, &wire.Event{Socket: uint64(s), Kind: &wire.Event_Accepted{
		Accepted: &wire.Accepted{Listener: uint64(listener), Peer: peer.String()}}})
	k.flushLocked()
}

// Received implements sdk.Events: it sends data in chunks as credit allows.
func (k *sink) Received(s sdk.Socket, data []byte) error {
	for len(data) > 0 {
		k.mu.Lock()
		if k.closed {
			k.mu.Unlock()
			return sdk.Errorf(sdk.ErrClosed, "%v: the host is gone", s)
		}
		c := k.socketLocked(s)
		if c == nil {
			k.mu.Unlock()
			return sdk.Errorf(sdk.ErrClosed, "%v: closed by the host", s)
		}
		if c.avail <= 0 {
			k.mu.Unlock()
			select {
			case <-c.wake:
			case <-k.done:
			}
			continue
		}
		n := min(int64(len(data)), c.avail, wire.MaxChunk)
		c.avail -= n
		k.queue = append(k.queue, &wire.Event{Socket: uint64(s), Kind: &wire.Event_Data{Data: data[:n]}})
		data = data[n:]
		k.flushLocked()
	}
	return nil
}

// Dropped implements sdk.Events.
func (k *sink) Dropped(s sdk.Socket, reason error) {
	if reason == nil {
		reason = sdk.ErrPeerClosed
	}
	k.mu.Lock()
	if k.closed || k.socketLocked(s) == nil {
		k.mu.Unlock()
		return
	}
	k.forgetLocked(s)
	k.queue = append(k.queue, &wire.Event{Socket: uint64(s), Kind: &wire.Event_Dropped{Dropped: statusOf(reason)}})
	k.flushLocked()
	if k.onDropped != nil {
		k.onDropped(s)
	}
}

// written reports the progress of one of the host's Send calls. It is not
// subject to credit: the host bounds its own writes in flight.
func (k *sink) written(s sdk.Socket, id uint64, n int, done bool, err error) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	k.queue = append(k.queue, &wire.Event{Socket: uint64(s), Kind: &wire.Event_Written{
		Written: &wire.Written{Id: id, Bytes: uint32(n), Done: done, Status: statusOf(err)}}})
	k.flushLocked()
}

// flushLocked writes the queue out unless someone else is writing or the
// data path is not up yet; it is called with k.mu held and releases it.
// Writing happens without the lock, so events keep queueing meanwhile; the
// writer loops until the queue is empty.
func (k *sink) flushLocked() {
	if k.broken {
		k.queue = nil // the session is over: nothing will be sent
	}
	if k.writing || k.fw == nil || k.broken {
		k.mu.Unlock()
		return
	}
	k.writing = true
	for len(k.queue) > 0 && !k.broken {
		size, n := 0, 0
		for n < len(k.queue) && size < wire.MaxBatch && n < wire.MaxBatchItems {
			size += len(k.queue[n].GetData())
			n++
		}
		batch := &wire.EventBatch{Events: k.queue[:n:n]}
		k.queue = k.queue[n:]
		if len(k.queue) == 0 {
			k.queue = nil
		}
		fw := k.fw
		k.mu.Unlock()
		err := fw.Write(batch)
		k.mu.Lock()
		if err != nil {
			// End the session visibly: the host sees the close.
			k.broken = true
			k.queue = nil
			if k.conn != nil {
				k.conn.Close()
			}
		}
	}
	k.writing = false
	close(k.idle)
	k.idle = make(chan struct{})
	k.mu.Unlock()
}

// attach starts writing to the data path, beginning with what queued
// before it was up; conn is closed if a write fails.
func (k *sink) attach(fw *wire.FrameWriter, conn io.Closer) {
	k.mu.Lock()
	k.fw, k.conn = fw, conn
	k.flushLocked()
}

// drain waits until no one is writing to the data path, and stops further
// writes, so that it can be closed.
func (k *sink) drain() {
	k.mu.Lock()
	for k.writing {
		idle := k.idle
		k.mu.Unlock()
		<-idle
		k.mu.Lock()
	}
	k.broken = true
	k.mu.Unlock()
}

// forgetLocked marks s gone and wakes a Received waiting for its credit.
func (k *sink) forgetLocked(s sdk.Socket) {
	if c := k.sockets[s]; c != nil {
		delete(k.sockets, s)
		close(c.wake)
	}
	if _, ok := k.gone[s]; !ok {
		k.gone[s] = struct{}{}
		k.goneFIFO = append(k.goneFIFO, s)
		if len(k.goneFIFO) > maxGoneSink {
			delete(k.gone, k.goneFIFO[0])
			k.goneFIFO = k.goneFIFO[1:]
		}
	}
}

// maxGoneSink bounds how many closed sockets the sink remembers. sdk.Socket ids are
// never reused, so forgetting an old one only risks accepting a very late
// event for it, which the host then ignores.
const maxGoneSink = 1 << 16

// closeSocket is called when the host closes s: later events of s are
// dropped and a Received waiting for credit returns sdk.ErrClosed.
func (k *sink) closeSocket(s sdk.Socket) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.forgetLocked(s)
}

// grant adds credit the host gave back.
func (k *sink) grant(s sdk.Socket, n int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.sockets[s]
	if c == nil {
		return
	}
	c.avail += n
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close ends the sink: every waiting and later Received fails, and no more
// events are queued.
func (k *sink) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.closed {
		k.closed = true
		close(k.done)
	}
}

func statusOf(err error) *wire.Status {
	if err == nil {
		return nil
	}
	return &wire.Status{Code: string(sdk.CodeOf(err)), Message: err.Error()}
}

// Finished implements Events (temporary: the old data path has no
// half-close, so the peer's FIN ends the socket as a drop).
func (k *sink) Finished(s sdk.Socket) { k.Dropped(s, sdk.ErrPeerClosed) }
