package core

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"ifsock/sdk"
)

// State is where an interface's driver is in its life.
type State int

const (
	// Down: not started yet (drivers start on first use).
	Down State = iota
	// Starting: the driver is being started.
	Starting
	// Up: the driver runs and takes calls.
	Up
	// Restarting: the driver process died and is being started again.
	Restarting
	// Failed: the last start failed; the next call tries again.
	Failed
	// Closed: the host was closed.
	Closed
)

func (s State) String() string {
	return [...]string{"down", "starting", "up", "restarting", "failed", "closed"}[s]
}

// Interface is one named network interface (lo0, eth0, wl0) and the driver
// that serves it. Its methods are safe for concurrent use and from inside
// socket callbacks.
//
// Ownership: the Interface owns its driver (and so the driver's process),
// the goroutine that watches the process, and the restart loop; the Host's
// Close stops them all.
type Interface struct {
	host     *Host
	name     string
	driver   string
	settings sdk.Settings
	logger   hclog.Logger
	start    startFunc

	mu      sync.Mutex
	state   State
	gen     *generation
	info    sdk.Info
	lastErr error
	changed chan struct{}  // closed and replaced at every state change
	stop    chan struct{}  // closed by close: ends the watcher and restarts
	workers sync.WaitGroup // the watcher and its restarts
	drops   sync.WaitGroup // generations delivering their disconnects
}

func newInterface(h *Host, ic IfaceConfig) *Interface {
	start, _ := h.launcher(ic.Driver) // New checked it
	return &Interface{
		host:     h,
		name:     ic.Name,
		driver:   ic.Driver,
		settings: ic.Settings,
		logger:   h.logger.Named(ic.Name),
		start:    start,
		changed:  make(chan struct{}),
		stop:     make(chan struct{}),
	}
}

// Name returns the interface's name.
func (i *Interface) Name() string { return i.name }

// Driver returns the name of the driver serving the interface.
func (i *Interface) Driver() string { return i.driver }

// State returns the interface's state and, when it is Failed or
// Restarting, the error that put it there.
func (i *Interface) State() (State, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.state, i.lastErr
}

// Info returns what the driver said it supports (zero before it started).
func (i *Interface) Info() sdk.Info {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.info
}

// PID returns the process id of the driver's plugin process, or 0 when the
// driver is not running or runs in process.
func (i *Interface) PID() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.gen == nil || i.state != Up {
		return 0
	}
	if i.gen.proc != nil {
		return i.gen.proc.PID()
	}
	return 0
}

// Start starts the driver if it is not up yet, and waits for it.
func (i *Interface) Start(ctx context.Context) error {
	_, err := i.current(ctx)
	return err
}

func (i *Interface) setStateLocked(s State, err error) {
	i.state, i.lastErr = s, err
	close(i.changed)
	i.changed = make(chan struct{})
}

// current returns the running driver generation, starting the driver when
// it is down or failed, and waiting while it starts or restarts.
func (i *Interface) current(ctx context.Context) (*generation, error) {
	for {
		i.mu.Lock()
		switch i.state {
		case Up:
			g := i.gen
			if !g.exited() {
				i.mu.Unlock()
				return g, nil
			}
			// The process is gone and the watcher is about to restart it
			// (a disconnect callback can run before it does): wait.
			changed := i.changed
			i.mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				return nil, sdk.Errorf(sdk.ErrDriverExited, "interface %s: driver not back yet: %w", i.name, ctx.Err())
			}
		case Closed:
			i.mu.Unlock()
			return nil, sdk.Errorf(sdk.ErrClosed, "interface %s is closed", i.name)
		case Down, Failed:
			i.setStateLocked(Starting, nil)
			i.mu.Unlock()
			g, err := i.open(ctx)
			i.mu.Lock()
			if i.state == Closed {
				i.mu.Unlock()
				if g != nil {
					g.close(nil)
				}
				return nil, sdk.Errorf(sdk.ErrClosed, "interface %s is closed", i.name)
			}
			if err != nil {
				i.setStateLocked(Failed, err)
				i.mu.Unlock()
				return nil, err
			}
			i.publishLocked(g)
			i.mu.Unlock()
			return g, nil
		default: // Starting, Restarting
			changed := i.changed
			i.mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				return nil, sdk.Errorf(sdk.ErrDriverExited, "interface %s: driver not back yet: %w", i.name, ctx.Err())
			}
		}
	}
}

// open starts one driver generation and, for a plugin process, the
// goroutine that notices its death.
func (i *Interface) open(ctx context.Context) (*generation, error) {
	d, proc, err := i.start(ctx, i.logger)
	if err != nil {
		return nil, err
	}
	g := newGeneration(i, d, proc)
	info, err := d.Open(ctx, sdk.OpenRequest{Interface: i.name, Settings: i.settings.Clone(), Events: g, Logger: i.logger})
	if err != nil {
		g.close(nil)
		return nil, err
	}
	g.info = info
	i.logger.Debug("driver up", "driver", info.Name, "version", info.Version, "device", info.Device)
	return g, nil
}

// publishLocked makes g the running generation and, for a plugin process,
// starts the goroutine that notices its death. Publishing first means the
// watcher always finds its generation current, even if the process died at
// once. i.mu is held and the interface is not closed.
func (i *Interface) publishLocked(g *generation) {
	i.gen, i.info = g, g.info
	i.setStateLocked(Up, nil)
	if g.proc != nil {
		i.workers.Add(1)
		go i.watch(g, g.proc.Exited())
	}
}

// watch waits for a generation's process to die and starts the driver
// again, with a backoff that doubles while starts fail.
func (i *Interface) watch(g *generation, exited <-chan struct{}) {
	defer i.workers.Done()
	select {
	case <-exited:
	case <-i.stop:
		return
	}
	i.mu.Lock()
	if i.gen != g || i.state != Up {
		i.mu.Unlock()
		return
	}
	i.setStateLocked(Restarting, sdk.ErrDriverExited)
	// The disconnects are delivered while the driver starts again: a
	// callback that reconnects waits for the restart, which must not wait
	// for it. (Added under the lock: close waits for drops only once it set
	// Closed.)
	reason := sdk.Errorf(sdk.ErrDriverExited, "interface %s: the %s driver process died", i.name, i.driver)
	i.drops.Go(func() { _ = g.close(reason) })
	i.mu.Unlock()
	i.logger.Warn("driver exited; starting it again", "driver", i.driver)

	backoff := i.host.cfg.RestartBackoff
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		go func() {
			select {
			case <-i.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		ng, err := i.open(ctx)
		cancel()
		i.mu.Lock()
		if i.state == Closed {
			i.mu.Unlock()
			if ng != nil {
				ng.close(nil)
			}
			return
		}
		if err == nil {
			i.publishLocked(ng)
			i.mu.Unlock()
			i.logger.Info("driver restarted", "driver", i.driver)
			return
		}
		i.lastErr = err
		i.mu.Unlock()
		i.logger.Error("restarting the driver failed", "error", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-i.stop:
			return
		}
		backoff = min(backoff*2, i.host.cfg.MaxRestartBackoff)
	}
}

// close closes the driver and stops the watcher and restarts.
func (i *Interface) close() error {
	i.mu.Lock()
	if i.state == Closed {
		i.mu.Unlock()
		return nil
	}
	g := i.gen
	i.gen = nil
	i.setStateLocked(Closed, nil)
	close(i.stop)
	i.mu.Unlock()
	var err error
	if g != nil {
		err = g.close(nil)
	}
	i.workers.Wait()
	// Disconnects of a dead generation may still be running: wait for them,
	// but not forever, since close may be called from one of them.
	drops := make(chan struct{})
	go func() { i.drops.Wait(); close(drops) }()
	select {
	case <-drops:
	case <-time.After(10 * time.Second):
		i.logger.Warn("closing with disconnect callbacks still running")
	}
	if errors.Is(err, sdk.ErrDriverExited) {
		err = nil
	}
	return err
}
