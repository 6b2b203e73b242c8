package loopback

import (
	"net/netip"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// sink is where a socket's goroutine hands the socket's events, one at a
// time and in order. Every socket of the driver has the host's Events as
// its sink today; the interface is the seam for an end that is not the
// host's (such as a net.Conn dialled from outside the driver).
type sink interface {
	accepted(listener, sock sdk.Socket, peer netip.AddrPort)
	received(sock sdk.Socket, data []byte) error
	finished(sock sdk.Socket)
	dropped(sock sdk.Socket, reason error)
}

// hostSink raises events on the host's Events.
type hostSink struct{ ev sdk.Events }

func (h hostSink) accepted(l, s sdk.Socket, p netip.AddrPort) { h.ev.Accepted(l, s, p) }
func (h hostSink) received(s sdk.Socket, b []byte) error      { return h.ev.Received(s, b) }
func (h hostSink) finished(s sdk.Socket)                      { h.ev.Finished(s) }
func (h hostSink) dropped(s sdk.Socket, reason error)         { h.ev.Dropped(s, reason) }

// delivery is the next event of a socket, as next found it: data to
// deliver, the peer's Finished, or the socket's Dropped(reason).
type delivery struct {
	data     []byte
	finished bool
	reason   error
}

// start runs the socket's goroutine; d.mu must be held.
func (d *Driver) start(s *socket) {
	d.running[s] = true
	go d.run(s)
}

// run is a socket's goroutine, the only one raising the socket's events:
// Accepted first for an accepted socket, then Received in byte order, then
// at most one Finished, then at most one Dropped. The Driver owns it (see
// Driver) and it exits when the socket is dropped, closed locally, the host
// refuses its data, or the driver closes. After Finished it stays, idle,
// until one of those happens: a socket whose peer finished can still be
// dropped (a reset).
//
// Every event starts the same way: under d.mu, the goroutine checks that
// the socket is neither halted nor the driver closed, and sets s.inEvent
// before it lets go of the lock to call the host. CloseSocket and Close
// halt sockets under that lock, so no event starts once they return; an
// event already started runs to its end, and the goroutine then takes the
// lock again, clears s.inEvent, finds the socket halted and exits without
// another event.
func (d *Driver) run(s *socket) {
	defer d.exit(s)
	if s.from != nil && !d.announce(s) {
		return
	}
	for {
		ev, ok := d.next(s)
		if !ok {
			return
		}
		switch {
		case ev.finished:
			s.sink.finished(s.id)
			d.mu.Lock()
			s.inEvent = false
			d.mu.Unlock()
			continue
		case ev.data == nil:
			s.sink.dropped(s.id, ev.reason)
			d.mu.Lock()
			s.inEvent = false
			d.mu.Unlock()
			return
		}
		data := ev.data
		err := s.sink.received(s.id, data)
		d.mu.Lock()
		s.held -= len(data)
		s.inEvent = false
		s.signal()
		if err != nil {
			// The host wants no more data: it is closing the socket or the
			// driver. Stop reading; the socket stays open until closed.
			d.log.Debug("host refused data, socket no longer read", "socket", s.id, "error", err)
			s.stop()
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
	}
}

// announce raises Accepted for s and reports whether s goes on. A halted s
// stops at once; if its listener closed first, s disappears without any
// event and its client is reset. The listener's open flag is checked
// under d.mu together with setting s.inEvent, so no Accepted naming a
// listener starts once CloseSocket of the listener returned.
func (d *Driver) announce(s *socket) bool {
	d.mu.Lock()
	l := s.from
	if !s.open || s.stopped || d.state != stateOpen {
		d.mu.Unlock()
		return false
	}
	if !l.open {
		d.remove(s)
		s.halt()
		err := sdk.Errorf(sdk.ErrReset, "connect to port %d: the listener closed before accepting", l.port)
		s.peer.end(err, err)
		d.mu.Unlock()
		return false
	}
	s.inEvent = true
	d.mu.Unlock()

	s.sink.accepted(l.id, s.id, s.remote)

	d.mu.Lock()
	s.announced = true
	s.inEvent = false
	d.mu.Unlock()
	return true
}

// next waits for the socket's next event: data to deliver, then (the queue
// empty) the peer's Finished, which leaves the socket open, then the reason
// of its drop, after which the socket is freed. ok is false when the
// goroutine must stop without more events. When ok is true the event is
// marked running (s.inEvent) before next lets go of d.mu: from then on
// Close does not wait for this goroutine, which is inside the host.
func (d *Driver) next(s *socket) (ev delivery, ok bool) {
	waited := false
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if s.stopped || d.state != stateOpen {
			return delivery{}, false
		}
		switch {
		case len(s.q) > s.head && (d.cfg.delay == 0 || waited):
			s.inEvent = true
			return delivery{data: s.pop(maxDelivery)}, true
		case len(s.q) > s.head:
			d.mu.Unlock()
			waited = d.pause(s)
			d.mu.Lock()
			continue
		case s.fin && !s.finRaised:
			s.finRaised = true
			s.inEvent = true
			return delivery{finished: true}, true
		case s.eof != nil:
			d.remove(s)
			s.inEvent = true
			return delivery{reason: s.eof}, true
		}
		wake := s.wake
		d.mu.Unlock()
		select {
		case <-wake:
		case <-s.kill:
		case <-d.closing:
		}
		d.mu.Lock()
	}
}

// pause waits the delay setting before a delivery; false if it was cut short.
func (d *Driver) pause(s *socket) bool {
	t := time.NewTimer(d.cfg.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.kill:
	case <-d.closing:
	}
	return false
}

// exit records that the socket's goroutine ended: Close waits for s.done.
func (d *Driver) exit(s *socket) {
	d.mu.Lock()
	delete(d.running, s)
	close(s.done)
	d.mu.Unlock()
}
