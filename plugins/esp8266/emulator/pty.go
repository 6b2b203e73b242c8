package emulator

import (
	"context"
	"errors"
	"sync"
)

// ServePTY opens a pseudo-terminal and runs Serve on its master in a
// goroutine it owns. It returns the slave path for the driver and a stop
// function that cancels Serve, waits for it, closes the PTY and returns
// Serve's error (nil after a normal stop). stop is idempotent and must be
// called even if ctx ends first.
func (e *Emulator) ServePTY(ctx context.Context) (path string, stop func() error, err error) {
	p, err := OpenPTY()
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, p.Master()) }()
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			serr := <-done
			cerr := p.Close()
			if serr != nil && !errors.Is(serr, context.Canceled) && !errors.Is(serr, context.DeadlineExceeded) {
				stopErr = serr
				return
			}
			stopErr = cerr
		})
		return stopErr
	}
	return p.Path(), stop, nil
}
