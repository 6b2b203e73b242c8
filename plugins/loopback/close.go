package loopback

import (
	"context"

	"github.com/ifsock/ifsock/sdk"
)

// CloseSocket closes s locally: no Dropped for s, and no new event of s
// starts once it returns. As with TCP's close, the bytes of Sends on s that
// returned are still delivered: the other end of a connection gets them,
// then Finished, and stays open until its host closes it; but nothing
// reaches s any more, so a Send on the other end then fails with ErrReset
// and drops it (Dropped(ErrReset), after its Finished), and data it had sent
// that s had not received yet is discarded. Closing a listener leaves the
// sockets it accepted open, and no new Accepted naming it starts once it
// returns.
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
	s.discard()
	if s.peer != nil {
		s.peer.finish(true)
	}
	return nil
}

// CloseWrite half-closes s: after the bytes of the Sends before it (it
// waits for a Send still running on s, within ctx), the other end gets
// Finished; s keeps receiving, and Send on s is ErrClosed from then on. s
// stays open until CloseSocket (or a drop). Errors: ErrClosed (s closed,
// dropped or already half-closed), ErrBadArgument (a listener), ErrReset
// (s is being dropped), ErrTimeout or ErrCanceled (ctx ended while a Send
// held s), ErrNotOpen.
func (d *Driver) CloseWrite(ctx context.Context, id sdk.Socket) error {
	s, err := d.sender("close write", id)
	if err != nil {
		return err
	}
	if err := d.takeTurn(ctx, "close write", s); err != nil {
		return err
	}
	defer func() { <-s.sendLock }()
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.state != stateOpen:
		return sdk.Errorf(sdk.ErrNotOpen, "loopback: close write: the driver closed")
	case !s.open:
		return sdk.Errorf(sdk.ErrClosed, "close write: %v was closed or dropped", id)
	case s.wrClosed:
		return sdk.Errorf(sdk.ErrClosed, "close write: %v is already half-closed, close it with CloseSocket when done receiving", id)
	case s.eof != nil:
		return s.sendErr // a reset is on its way
	}
	s.wrClosed = true
	if !s.peerGone {
		s.peer.finish(false)
	}
	return nil
}
