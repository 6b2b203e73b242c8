package loopback

import (
	"context"

	"ifsock/sdk"
)

// CloseSocket closes s locally: no Dropped for s, and no new event of s
// starts once it returns. The other end of a connection gets its queued
// data, then Dropped(ErrPeerClosed). Closing a listener leaves the sockets
// it accepted open, and no new Accepted naming it starts once it returns.
//
// CloseSocket never waits for an event of s that is already running: that
// event may be the very handler calling CloseSocket. Such an event may
// finish; the socket's goroutine then sees the socket halted and exits
// without raising anything more (see Driver for who owns that goroutine).
// CloseSocket does not block, so ctx is not consulted.
func (d *Driver) CloseSocket(ctx context.Context, id sdk.Socket) error {
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
	return nil
}
