package loopback

import (
	"context"

	"github.com/ifsock/ifsock/sdk"
)

// Send queues data for the other end of s. It returns once every byte is in
// the other end's inbound window; while that window is full (its handler is
// slow) Send waits, until ctx is done (ErrTimeout, ErrCanceled: the bytes
// taken so far are delivered). Sends on one socket run one at a time, so the
// bytes of each Send stay together. Sending after the peer finished
// (Finished) is fine while the peer is half-closed; once the peer closed
// fully it is ErrReset, and s is then dropped. Errors: ErrClosed (s closed,
// dropped or half-closed with CloseWrite), ErrReset (drop_after reached, or
// the peer closed), ErrBadArgument (a listener), ErrNotOpen.
func (d *Driver) Send(ctx context.Context, id sdk.Socket, data []byte) error {
	s, err := d.sender("send", id)
	if err != nil {
		return err
	}
	if err := d.takeTurn(ctx, "send", s); err != nil {
		return err
	}
	defer func() { <-s.sendLock }()
	return d.write(ctx, s, data)
}

// sender returns the open connected socket id, for op.
func (d *Driver) sender(op string, id sdk.Socket) (*socket, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup(op, id)
	if err == nil && s.listener {
		err = sdk.Errorf(sdk.ErrBadArgument, "%s: %v is a listener: use a connected socket", op, id)
	}
	return s, err
}

// takeTurn waits for s's send lock, within ctx; the caller gives it back
// with <-s.sendLock. Sends and CloseWrite of s take turns on it.
func (d *Driver) takeTurn(ctx context.Context, op string, s *socket) error {
	select {
	case s.sendLock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctxError(op, ctx.Err())
	case <-d.closing:
		return sdk.Errorf(sdk.ErrNotOpen, "loopback: %s: the driver closed", op)
	}
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
		case s.wrClosed:
			return sdk.Errorf(sdk.ErrClosed, "send: %v was half-closed with CloseWrite and only receives now, open a new socket to send", s.id)
		case s.sendErr != nil:
			if s.peerGone {
				// What TCP does: the write to a closed peer is
				// answered with a reset, which ends the connection.
				s.end(s.sendErr, s.sendErr)
			}
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
