package loopback

import (
	"context"

	"ifsock/sdk"
)

// CloseSocket closes s locally: no Dropped for s, and no event of s at all
// once it returns. The other end of a connection gets its queued data, then
// Dropped(ErrPeerClosed). Closing a listener leaves the sockets it accepted
// open. CloseSocket waits for an event handler of s that is running to
// return, unless it is called from inside that handler; if ctx ends first it
// returns ErrTimeout or ErrCanceled, with s closed all the same.
func (d *Driver) CloseSocket(ctx context.Context, id sdk.Socket) error {
	me := goid()
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("close", id)
	if err != nil {
		return err
	}
	d.remove(s)
	s.halt()
	if s.peer != nil {
		s.peer.end(sdk.ErrPeerClosed, sdk.Errorf(sdk.ErrClosed, "send: the peer closed the connection"))
	}
	for !s.quiet(me) {
		idle := s.idle
		d.mu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			d.mu.Lock()
			return ctxError("close: an event handler of the socket did not return", ctx.Err())
		}
		d.mu.Lock()
	}
	return nil
}
