package remote

import (
	"net/netip"

	"ifsock/internal/wire"
	"ifsock/sdk"
)

type eventKind int

const (
	evAccepted eventKind = iota
	evData
	evDropped
)

type event struct {
	kind     eventKind
	listener sdk.Socket
	peer     netip.AddrPort
	data     []byte
	reason   error
}

// inbox holds one socket's events until its delivery goroutine hands them
// to the host's Events, in order, one at a time. The goroutine runs only
// while events are queued.
type inbox struct {
	sock     sdk.Socket
	queue    []event
	running  bool
	queued   int64 // data bytes queued: bounded by the window if the plugin is honest
	closed   bool  // closed locally, dropped, or the driver closed
	dropping bool  // a Dropped is queued: it is the last event
	consumed int64 // data bytes delivered since the last credit
}

// maxGone bounds how many ended sockets the driver remembers (ids are never
// reused; forgetting one only risks ignoring a very late event less).
const maxGone = 1 << 16

// inboxLocked returns the inbox of s, creating it; nil if s has ended.
func (d *Driver) inboxLocked(s sdk.Socket) *inbox {
	if _, ok := d.gone[s]; ok {
		return nil
	}
	in := d.inboxes[s]
	if in == nil {
		in = &inbox{sock: s}
		d.inboxes[s] = in
	}
	return in
}

// forgetLocked ends s: queued events are discarded and later ones ignored.
func (d *Driver) forgetLocked(s sdk.Socket) {
	if in := d.inboxes[s]; in != nil {
		in.closed = true
		in.queue = nil
		delete(d.inboxes, s)
	}
	if len(d.gone) >= maxGone {
		clear(d.gone)
	}
	d.gone[s] = struct{}{}
}

func (in *inbox) pushLocked(d *Driver, e event) {
	if in.closed || in.dropping {
		return
	}
	in.dropping = e.kind == evDropped
	in.queue = append(in.queue, e)
	if !in.running {
		in.running = true
		d.runners.Add(1)
		go d.deliver(in)
	}
}

// deliver is an inbox's delivery goroutine: it runs the queued events and
// exits when the queue is empty.
func (d *Driver) deliver(in *inbox) {
	defer d.runners.Done()
	for {
		d.mu.Lock()
		if len(in.queue) == 0 || in.closed {
			in.running = false
			d.mu.Unlock()
			return
		}
		e := in.queue[0]
		in.queue[0] = event{}
		in.queue = in.queue[1:]
		events := d.events
		d.mu.Unlock()

		switch e.kind {
		case evAccepted:
			events.Accepted(e.listener, in.sock, e.peer)
		case evData:
			err := events.Received(in.sock, e.data)
			var grant int64
			d.mu.Lock()
			in.queued -= int64(len(e.data))
			if err != nil {
				// The host no longer wants this socket's data.
				in.closed = true
				in.queue = nil
			} else {
				in.consumed += int64(len(e.data))
				if in.consumed >= d.window/4 {
					grant, in.consumed = in.consumed, 0
				}
			}
			d.mu.Unlock()
			if grant > 0 {
				// Outside the lock: writing may take a while under load,
				// and the reader needs the lock for every socket.
				d.out.credit(in.sock, grant)
			}
		case evDropped:
			d.mu.Lock()
			d.forgetLocked(in.sock)
			d.mu.Unlock()
			events.Dropped(in.sock, e.reason)
			return
		}
	}
}

// readEvents reads event batches until the data path breaks, and dispatches
// each event to its socket's inbox. A broken data path means the plugin died
// (or the driver is closing).
func (d *Driver) readEvents(fr *wire.FrameReader) {
	defer d.loops.Done()
	for {
		batch := new(wire.EventBatch)
		err := fr.Read(batch)
		if err == nil {
			err = d.dispatch(batch)
		}
		if err != nil {
			d.mu.Lock()
			closing := d.state == stateClosed
			d.mu.Unlock()
			if !closing {
				d.die(err)
			}
			// When we are closing, the plugin ends the stream as it closes
			// the driver; Close reaps the process once its call returned.
			return
		}
	}
}

// dispatch hands a batch's events to their sockets' inboxes. A plugin that
// breaks the protocol (more write reports than a call can have, data beyond
// a socket's credit, more sockets than it can hold) is treated as broken:
// the error ends the session and the plugin is restarted, so a buggy or
// hostile plugin cannot make the host wait or grow without bound.
func (d *Driver) dispatch(batch *wire.EventBatch) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, e := range batch.Events {
		s := sdk.Socket(e.Socket)
		var ev event
		switch k := e.Kind.(type) {
		case *wire.Event_Accepted:
			peer, _ := netip.ParseAddrPort(k.Accepted.Peer)
			ev = event{kind: evAccepted, listener: sdk.Socket(k.Accepted.Listener), peer: peer}
		case *wire.Event_Data:
			ev = event{kind: evData, data: k.Data}
		case *wire.Event_Written:
			if call := d.calls[k.Written.Id]; call != nil {
				select {
				case call.progress <- k.Written:
				default:
					return sdk.Errorf(sdk.ErrDevice, "protocol violation: more write reports than chunks for call %d", k.Written.Id)
				}
			}
			continue
		case *wire.Event_Dropped:
			reason := errOf(k.Dropped)
			if reason == nil {
				reason = sdk.ErrPeerClosed
			}
			ev = event{kind: evDropped, reason: reason}
		default:
			continue
		}
		if _, known := d.inboxes[s]; !known && len(d.inboxes) >= d.maxInboxes() {
			return sdk.Errorf(sdk.ErrDevice, "protocol violation: events for %d sockets, more than the driver can hold", len(d.inboxes)+1)
		}
		in := d.inboxLocked(s)
		if in == nil {
			continue
		}
		if ev.kind == evData {
			in.queued += int64(len(ev.data))
			if in.queued > 2*d.window {
				return sdk.Errorf(sdk.ErrDevice, "protocol violation: %v has %d bytes queued, beyond its %d-byte credit", s, in.queued, d.window)
			}
		}
		in.pushLocked(d, ev)
	}
	return nil
}

// maxInboxes bounds the sockets the host keeps events for: what the driver
// said it holds, with room for sockets closing and opening at once.
func (d *Driver) maxInboxes() int {
	return 2*d.maxSockets + 64
}
