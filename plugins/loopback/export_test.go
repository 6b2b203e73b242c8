package loopback

import "github.com/ifsock/ifsock/sdk"

// GoroutineDone returns a channel closed when the goroutine of socket id
// exits, or nil when id is not open. Tests use it to know that a goroutine
// can raise nothing more, instead of sleeping.
func (d *Driver) GoroutineDone(id sdk.Socket) <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.socks[id]; s != nil {
		return s.done
	}
	return nil
}

// Goroutines returns the exit channels of the socket goroutines that have
// not exited yet.
func (d *Driver) Goroutines() []<-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []<-chan struct{}
	for s := range d.running {
		out = append(out, s.done)
	}
	return out
}
