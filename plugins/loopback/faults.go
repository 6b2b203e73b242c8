package loopback

import (
	"github.com/ifsock/ifsock/sdk"
)

// DropSocket drops s as if the link failed, for tests of what happens
// above a driver: queued inbound data of s is discarded and s gets
// Dropped(reason) (ErrReset when reason is nil) as its next event; the other
// end of a connection gets its queued data, then Dropped(ErrReset). A
// listener can be dropped too; the sockets it accepted stay. It returns
// ErrClosed when s is not open, ErrNotOpen when the driver is not.
func (d *Driver) DropSocket(id sdk.Socket, reason error) error {
	if reason == nil {
		reason = sdk.ErrReset
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := d.lookup("drop", id)
	if err != nil {
		return err
	}
	s.discard()
	s.eof = reason
	s.fin = false // the link failed: no orderly end any more
	if s.sendErr == nil {
		s.sendErr = sdk.Errorf(sdk.ErrClosed, "send: %v was dropped", id)
	}
	s.signal()
	if s.peer != nil {
		err := sdk.Errorf(sdk.ErrReset, "%v: the other end was dropped", s.peer.id)
		s.peer.end(err, err)
	}
	return nil
}
