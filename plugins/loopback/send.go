package loopback

import (
	"context"

	"ifsock/sdk"
)

// Send queues data for the other end of s. It returns once every byte is in
// the other end's inbound window; while that window is full (its handler is
// slow) Send waits, until ctx is done (ErrTimeout, ErrCanceled: the bytes
// taken so far are delivered). Sends on one socket run one at a time, so the
// bytes of each Send stay together. Errors: ErrClosed (s closed, dropped, or
// its peer gone), ErrReset (drop_after reached), ErrBadArgument (a
// listener), ErrNotOpen.
func (d *Driver) Send(ctx context.Context, id sdk.Socket, data []byte) error {
	d.mu.Lock()
	s, err := d.lookup("send", id)
	if err == nil && s.listener {
		err = sdk.Errorf(sdk.ErrBadArgument, "send: %v is a listener: send on a connected socket", id)
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case s.sendLock <- struct{}{}:
	case <-ctx.Done():
		return ctxError("send", ctx.Err())
	case <-d.closing:
		return sdk.Errorf(sdk.ErrNotOpen, "loopback: send: the driver closed")
	}
	defer func() { <-s.sendLock }()
	return d.write(ctx, s, data)
}

// write moves data into the inbound window of s's peer, waiting for room.
func (d *Driver) write(ctx context.Context, s *socket, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(data) > 0 {
		switch {
		case d.state != stateOpen:
			return sdk.Errorf(sdk.ErrNotOpen, "loopback: send: the driver closed")
		case !s.open:
			return sdk.Errorf(sdk.ErrClosed, "send: %v was closed or dropped", s.id)
		case s.sendErr != nil:
			return s.sendErr
		}
		p := s.peer
		if room := d.cfg.buffer - p.held; room > 0 {
			n := min(room, len(data))
			if d.cfg.dropAfter > 0 {
				n = int(min(int64(n), d.cfg.dropAfter-p.received))
			}
			p.push(data[:n])
			data = data[n:]
			if d.cfg.dropAfter > 0 && p.received >= d.cfg.dropAfter {
				err := sdk.Errorf(sdk.ErrReset, "%v received %d bytes (setting %s)", p.id, p.received, SettingDropAfter)
				p.end(err, err)
				s.end(err, err)
			}
			continue
		}
		space := p.space
		d.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			d.mu.Lock()
			return ctxError("send: the peer's receive window stayed full", ctx.Err())
		case <-d.closing:
		}
		d.mu.Lock()
	}
	return nil
}
