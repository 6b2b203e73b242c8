package loopback

import (
	"net/netip"
	"time"

	"ifsock/sdk"
)

// sink is where a socket's goroutine hands the socket's events: the host's
// Events for the driver's own sockets, a pipe for a connection dialled from
// outside (see Dial).
type sink interface {
	accepted(listener, sock sdk.Socket, peer netip.AddrPort)
	received(sock sdk.Socket, data []byte) error
	dropped(sock sdk.Socket, reason error)
}

// hostSink raises events on the host's Events.
type hostSink struct{ ev sdk.Events }

func (h hostSink) accepted(l, s sdk.Socket, p netip.AddrPort) { h.ev.Accepted(l, s, p) }
func (h hostSink) received(s sdk.Socket, b []byte) error      { return h.ev.Received(s, b) }
func (h hostSink) dropped(s sdk.Socket, reason error)         { h.ev.Dropped(s, reason) }

// start runs the socket's goroutine; d.mu must be held.
func (d *Driver) start(s *socket) {
	d.running[s] = true
	go d.run(s)
}

// run is a socket's goroutine, the only one raising the socket's events:
// Accepted first for an accepted socket, then Received in byte order, then
// at most one Dropped. It exits when the socket is dropped, closed locally,
// the host refuses its data, or the driver closes.
func (d *Driver) run(s *socket) {
	gid := goid()
	d.mu.Lock()
	s.gid = gid
	d.mu.Unlock()
	defer d.exit(s)
	if s.from != nil && !d.announce(s, gid) {
		return
	}
	for {
		data, reason, ok := d.next(s, gid)
		if !ok {
			return
		}
		if data == nil {
			s.sink.dropped(s.id, reason)
			d.mu.Lock()
			s.eventDone()
			d.mu.Unlock()
			return
		}
		err := s.sink.received(s.id, data)
		d.mu.Lock()
		s.held -= len(data)
		s.eventDone()
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

// announce raises Accepted for s, unless its listener closed first: then s
// disappears without any event and its client is reset. It reports whether
// s goes on.
func (d *Driver) announce(s *socket, gid int64) bool {
	d.mu.Lock()
	l := s.from
	if !s.open || s.stopped {
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
	l.accepting[gid]++
	s.cbGID = gid
	d.mu.Unlock()

	s.sink.accepted(l.id, s.id, s.remote)

	d.mu.Lock()
	if l.accepting[gid]--; l.accepting[gid] == 0 {
		delete(l.accepting, gid)
	}
	l.notifyIdle()
	s.announced = true
	s.eventDone()
	d.mu.Unlock()
	return true
}

// next waits for the socket's next event: data to deliver, or the reason of
// its drop (data nil) after which the socket is freed. ok is false when the
// goroutine must stop without more events. The event is marked running
// (cbGID) before next returns, so that CloseSocket waits for it.
func (d *Driver) next(s *socket, gid int64) (data []byte, reason error, ok bool) {
	waited := false
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if s.stopped || d.state != stateOpen {
			return nil, nil, false
		}
		switch {
		case len(s.q) > s.head && (d.cfg.delay == 0 || waited):
			s.cbGID = gid
			return s.pop(maxDelivery), nil, true
		case len(s.q) > s.head:
			d.mu.Unlock()
			waited = d.pause(s)
			d.mu.Lock()
			continue
		case s.eof != nil:
			d.remove(s)
			s.cbGID = gid
			return nil, s.eof, true
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

// exit records that the socket's goroutine ended.
func (d *Driver) exit(s *socket) {
	d.mu.Lock()
	delete(d.running, s)
	close(s.done)
	d.mu.Unlock()
}
