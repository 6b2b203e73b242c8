package remote

import (
	"net/netip"

	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// read starts reading the data path: a relay of reader goroutines, which
// deliver an event inline when its socket has nothing queued. The data path
// breaking means the plugin died (or the driver is closing). A plugin that
// breaks the protocol is taken for dead too: the session ends and the
// plugin is restarted, so a buggy plugin cannot make the host wait or grow
// without bound.
func (d *Driver) read(fr *frameReader) {
	r := &relay{wg: &d.loops, read: func() (func(), error) { return d.readFrame(fr) }, onEnd: d.die}
	r.start()
}

func (d *Driver) readFrame(fr *frameReader) (inline func(), err error) {
	h, err := fr.next()
	if err != nil {
		return nil, err
	}
	if h.typ == fData {
		// The bytes go to the application, which owns them: a buffer each.
		data, err := fr.payload(h, make([]byte, h.n))
		if err != nil {
			return nil, err
		}
		if h.n == 0 {
			return nil, violation("empty data for socket %d", h.id)
		}
		c := cost(len(data))
		if q := d.connQueued.Add(c); q > d.connWindow {
			return nil, violation("%d bytes of data queued for the plugin's sockets, beyond the %d-byte window they share", q, d.connWindow)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		hs, err := d.announcedLocked(h.id)
		if err != nil {
			return nil, err
		}
		if hs == nil {
			// Data on its way when the socket was closed here (or the
			// driver is closing): discarded, and its credit given back at
			// once, so the plugin's reader of it, and a peer inside the
			// plugin waiting on it (loopback), are not held up.
			d.connQueued.Add(-c)
			if !d.dead {
				d.out.put(fCredit, h.id, putU32(nil, uint32(len(data))), nil)
				d.consumedConn(c)
				return d.out.kick, nil
			}
			return nil, nil
		}
		if hs.finished {
			return nil, violation("data for %v after it finished", hs.id)
		}
		hs.queued += int64(len(data))
		if hs.queued > d.window {
			return nil, violation("%v has %d bytes queued, beyond its %d-byte credit", hs.id, hs.queued, d.window)
		}
		return d.postLocked(hs, event{kind: evData, data: data}), nil
	}
	p, err := fr.small(h)
	if err != nil {
		return nil, err
	}
	// Every field is decoded, and a short frame refused, before anything
	// changes: a broken frame must not leave a socket half ended.
	var (
		status   error
		sock     sdk.Socket
		listener sdk.Socket
		peer     netip.AddrPort
		local    netip.AddrPort
		credit   int64
	)
	switch h.typ {
	case fReply:
		status, sock, peer = p.status(), sdk.Socket(p.u64()), p.addrPort()
		if p.more() {
			local = p.addrPort()
		}
	case fAccepted:
		listener, peer = sdk.Socket(p.u64()), p.addrPort()
	case fDropped, fFailed:
		status = p.status()
	case fTaken:
		credit = int64(p.u32())
	case fFinished:
	default:
		return nil, violation("the plugin sent a %v frame", h.typ)
	}
	if p.bad {
		return nil, violation("a short %v frame", h.typ)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s := sdk.Socket(h.id)
	switch h.typ {
	case fReply:
		kick, err := d.replyLocked(h.id, status, sock, peer, local)
		if err != nil {
			return nil, err
		}
		if kick {
			inline = d.out.kick
		}
	case fAccepted:
		// The listener must be one the plugin may name (a Listen in flight
		// may not have returned yet); the new socket is introduced here.
		if l := sdk.Socket(listener); d.socks[l] == nil && !d.ended.Has(uint64(l)) {
			if _, err := d.announcedLocked(uint64(l)); err != nil {
				return nil, err
			}
		}
		hs := d.socks[s]
		switch {
		case hs != nil && !hs.unknown:
			return nil, violation("%v accepted twice", s)
		case hs == nil:
			if err := d.roomLocked(); err != nil {
				// A busy server, not a broken plugin: this one socket is
				// refused, and the plugin closes it.
				d.logger.Warn("refusing an accepted socket: the host keeps no more sockets for this driver (core.Config.MaxSockets)", "socket", uint64(s), "sockets", len(d.socks))
				d.ended.Add(uint64(s))
				d.out.put(fClose, uint64(s), nil, nil)
				return d.out.kick, nil
			}
			if hs = d.newSocketLocked(s); hs == nil {
				return nil, nil
			}
		}
		d.introduceLocked(hs)
		hs.peer = peer
		inline = d.postLocked(hs, event{kind: evAccepted, listener: listener, peer: peer})
	case fFinished:
		if d.lateLocked(s) {
			return nil, nil
		}
		hs, err := d.announcedLocked(h.id)
		if hs == nil || err != nil {
			return nil, err
		}
		if hs.finished {
			return nil, violation("%v finished twice", s)
		}
		hs.finished = true
		inline = d.postLocked(hs, event{kind: evFinished})
	case fDropped:
		reason := status
		if reason == nil {
			reason = sdk.ErrPeerClosed
		}
		if d.lateLocked(s) {
			return nil, nil
		}
		hs, err := d.announcedLocked(h.id)
		if hs == nil || err != nil {
			return nil, err
		}
		d.endLocked(hs, sdk.Errorf(sdk.ErrClosed, "send on %v: the socket was dropped (%v)", s, reason))
		inline = d.postLocked(hs, event{kind: evDropped, reason: reason})
	case fTaken:
		if hs := d.socks[s]; hs != nil {
			hs.avail += credit
			hs.taken += credit
			if hs.avail > d.sendWindow {
				return nil, violation("%v was given %d bytes of send credit, more than its window", s, hs.avail)
			}
			d.wakeLocked(hs)
		}
	case fFailed:
		if hs := d.socks[s]; hs != nil && status != nil && hs.sendErr == nil {
			hs.sendErr = status
			d.wakeLocked(hs)
		}
	}
	return inline, nil
}

// announcedLocked returns the state of a socket an event names; nil for a
// socket that ended. A socket is introduced by the reply that returns it or
// by its accept; events may name a socket before its Connect or Listen
// returned, so a plugin may name as many sockets not yet introduced as
// there are such calls in flight, and no more. Beyond that, or beyond the
// host's bound on sockets, it breaks the protocol: the host's memory for a
// plugin is the host's to decide.
func (d *Driver) announcedLocked(id uint64) (*hostSocket, error) {
	s := sdk.Socket(id)
	if hs := d.socks[s]; hs != nil {
		return hs, nil
	}
	if d.ended.Has(id) || d.dead || d.state == stateClosed {
		return nil, nil
	}
	if err := d.roomLocked(); err != nil {
		return nil, err
	}
	if d.unknown >= d.opening {
		return nil, violation("an event for %v, which no call returned and no listener accepted", s)
	}
	hs := d.newSocketLocked(s)
	if hs != nil {
		hs.unknown = true
		d.unknown++
	}
	return hs, nil
}

// lateLocked reports whether an end of a socket (its finish or drop) names
// a socket the host no longer knows while no call that could return it is
// in flight: a late frame of a socket whose id the bounded ended set forgot
// (a drop held back behind a lingering write). It is ignored: it costs the
// host nothing, unlike data.
func (d *Driver) lateLocked(s sdk.Socket) bool {
	if d.socks[s] != nil || d.unknown < d.opening {
		return false
	}
	d.logger.Debug("ignoring the end of a socket the host does not know", "socket", uint64(s))
	return true
}

// roomLocked checks that the host keeps state for one more socket: its
// own bound, lowered by what the driver declared, doubled (sockets closed
// here may still have frames on the way) plus some slack.
func (d *Driver) roomLocked() error {
	limit := d.maxSockets
	if m := d.info.MaxSockets; m > 0 && m < limit {
		limit = m
	}
	if len(d.socks) >= 2*limit+64 {
		return violation("events for %d sockets at once, beyond the host's bound of %d", len(d.socks)+1, 2*limit+64)
	}
	return nil
}

// introduceLocked marks a socket named before as returned or accepted.
func (d *Driver) introduceLocked(hs *hostSocket) {
	if hs.unknown {
		hs.unknown = false
		d.unknown--
	}
}

// replyLocked completes a call. A Connect or Listen reply registers its
// socket; the socket of a call whose caller gave up is closed at once (it
// reports true: the close frame is queued and needs a kick). A reply that
// leaves more sockets named but not introduced than calls in flight breaks
// the protocol.
func (d *Driver) replyLocked(id uint64, err error, sock sdk.Socket, peer, local netip.AddrPort) (kick bool, broken error) {
	c := d.calls[id]
	if c == nil {
		return false, nil
	}
	delete(d.calls, id)
	if c.op == opConnect || c.op == opListen {
		d.opening--
		defer func() {
			if d.unknown > d.opening {
				// The call is answered; the session ends all the same.
				kick, broken = false, violation("events named %d sockets that no call returned", d.unknown)
			}
		}()
	}
	c.err, c.sock, c.peer, c.local = err, sock, peer, local
	if err == nil && (c.op == opConnect || c.op == opListen) {
		hs := d.newSocketLocked(sock)
		switch {
		case sock == 0:
			c.err = violation("the driver answered socket 0")
		case hs == nil:
			c.err = sdk.Errorf(sdk.ErrReset, "%v ended before its call returned", sock)
		default:
			d.introduceLocked(hs)
			hs.listener = c.op == opListen
			if peer.IsValid() {
				hs.peer = peer
			}
			if local.IsValid() {
				hs.local = local
			}
			if c.abort {
				d.endLocked(hs, sdk.ErrClosed)
				hs.events.stop()
				d.out.put(fClose, uint64(sock), nil, nil)
				kick = true
			}
		}
	}
	close(c.done)
	return kick, nil
}

// wakeLocked wakes the Sends waiting on hs.
func (d *Driver) wakeLocked(hs *hostSocket) {
	if hs.wake != nil {
		close(hs.wake)
		hs.wake = nil
	}
}

// pushLocked queues an event on the socket's lane.
//
// A lane stops when the host no longer wants the socket's events (its
// Received refused, before the socket is closed here): data it refuses is
// dropped, and both its credits go back at once. It reports whether a
// frame was queued for that (the caller kicks the writer without d.mu).
func (d *Driver) pushLocked(hs *hostSocket, e event) (queued bool) {
	d.laneLocked(hs)
	if hs.events.push(e, &d.runners, hs.deliver) || e.kind != evData {
		return false
	}
	n := len(e.data)
	hs.queued -= int64(n)
	d.connQueued.Add(-cost(n))
	queued = d.consumedConn(cost(n))
	if !d.dead {
		d.out.put(fCredit, uint64(hs.id), putU32(nil, uint32(n)), nil)
		queued = true
	}
	return queued
}

// laneLocked makes what a socket's lane needs, the first time.
func (d *Driver) laneLocked(hs *hostSocket) {
	if hs.deliver == nil {
		hs.deliver = func(e event) bool { return d.deliver(hs, e) }
	}
}

// postLocked queues an event, or, when the socket's lane is idle, returns
// the work of delivering it for the reader to run inline (see relay).
func (d *Driver) postLocked(hs *hostSocket, e event) (inline func()) {
	d.laneLocked(hs)
	if !hs.events.claim() {
		if d.pushLocked(hs, e) {
			return d.out.kick
		}
		return nil
	}
	return func() { hs.events.release(hs.deliver(e), &d.runners, hs.deliver) }
}

// deliver hands one event to the host's Events; false stops the lane. It
// runs on the socket's lane, so a slow handler holds back its socket alone:
// its credit comes back only as it consumes.
func (d *Driver) deliver(hs *hostSocket, e event) bool {
	ev := d.events
	switch e.kind {
	case evAccepted:
		ev.Accepted(e.listener, hs.id, e.peer)
	case evData:
		err := ev.Received(hs.id, e.data)
		n := int64(len(e.data))
		d.connQueued.Add(-cost(len(e.data)))
		kick := d.consumedConn(cost(len(e.data)))
		d.mu.Lock()
		hs.queued -= n
		if err != nil {
			// The host no longer wants this socket's data: what is queued
			// behind gives its share of the shared window back now.
			d.mu.Unlock()
			hs.events.stop()
			d.out.kick()
			return false
		}
		hs.consumed += n
		if hs.consumed >= d.window/4 && !d.dead {
			d.out.put(fCredit, uint64(hs.id), putU32(nil, uint32(hs.consumed)), nil)
			hs.consumed = 0
			kick = true
		}
		d.mu.Unlock()
		if kick {
			d.out.kick()
		}
	case evFinished:
		ev.Finished(hs.id)
	case evDropped:
		ev.Dropped(hs.id, e.reason)
		return false
	}
	return true
}

// cost is what a data frame of n bytes costs of the shared window.
func cost(n int) int64 { return int64(n) + wire.FrameCost }

// consumedConn counts c cost units the host no longer holds, and queues
// their credit back to the plugin a quarter window at a time; it reports
// whether a frame was queued (the caller kicks the writer once it holds no
// lock). Safe with or without d.mu held.
func (d *Driver) consumedConn(c int64) (queued bool) {
	if d.connConsumed.Add(c) < d.connWindow/4 {
		return false
	}
	back := d.connConsumed.Swap(0)
	if back <= 0 {
		return false
	}
	d.out.put(fCredit, 0, putU32(nil, uint32(back)), nil)
	return true
}
