package core

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/sdk"
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
	upAt    time.Time // when the running generation came up
	// The restart history: crashes counts deaths and failed restarts since
	// the driver last stayed up for a while (see stableRun); restarts
	// counts every restart, for the operator.
	crashes  int
	restarts int
	retryAt  time.Time      // when the next start is due, while Restarting
	changed  chan struct{}  // closed and replaced at every state change
	stop     chan struct{}  // closed by close: ends the watcher and restarts
	workers  sync.WaitGroup // the watcher and its restarts
	drops    sync.WaitGroup // generations delivering their disconnects
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

// Restarts describes an interface's restart history, for operators.
type Restarts struct {
	// Total is how many times the driver was started again after its
	// process died.
	Total int
	// Crashes counts deaths and failed starts since the driver last stayed
	// up long enough (twice Config.MaxRestartBackoff) to reset the backoff.
	Crashes int
	// Next is when the next start is due, while the state is Restarting
	// and the backoff runs; zero otherwise.
	Next time.Time
}

// Restarts returns the interface's restart history.
func (i *Interface) Restarts() Restarts {
	i.mu.Lock()
	defer i.mu.Unlock()
	r := Restarts{Total: i.restarts, Crashes: i.crashes}
	if i.state == Restarting {
		r.Next = i.retryAt
	}
	return r
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

// Settings returns a copy of the settings the interface opens its driver
// with.
func (i *Interface) Settings() sdk.Settings { return i.settings.Clone() }

// LaunchDriver starts a fresh instance of the interface's driver, apart
// from the one the interface runs, and returns it unopened: for tools that
// drive the contract directly, such as the conformance suite behind
// `host conform`. It runs as the interface's driver would (a plugin process,
// or in process with Config.InProcess); open it with Settings. The caller
// owns it: Close stops its process, opened or not.
func (i *Interface) LaunchDriver(ctx context.Context) (sdk.Driver, error) {
	d, _, err := i.start(ctx, i.logger)
	return d, err
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
	i.upAt = time.Now()
	i.setStateLocked(Up, nil)
	if g.proc != nil {
		i.workers.Add(1)
		go i.watch(g, g.proc.Exited())
	}
}

// backoffLocked returns how long to wait before the next start, counting
// one more crash: nothing for the first death after a stable run, then
// Config.RestartBackoff doubling up to Config.MaxRestartBackoff, so a
// driver that keeps dying, whether at start or soon after, is started a few
// times a minute rather than a few times a second.
func (i *Interface) backoffLocked() time.Duration {
	i.crashes++
	if i.crashes == 1 {
		return 0
	}
	cfg := i.host.cfg
	d := cfg.RestartBackoff
	for n := 2; n < i.crashes && d < cfg.MaxRestartBackoff; n++ {
		d *= 2
	}
	return min(d, cfg.MaxRestartBackoff)
}

// stableRun is how long a generation must stay up for its death to be
// taken as a new fault rather than the same one again: the backoff starts
// over after it.
func (i *Interface) stableRun() time.Duration { return 2 * i.host.cfg.MaxRestartBackoff }

// watch waits for a generation's process to die and starts the driver
// again, with a backoff that doubles while it keeps dying (see
// backoffLocked).
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
	if time.Since(i.upAt) >= i.stableRun() {
		i.crashes = 0
	}
	i.setStateLocked(Restarting, sdk.ErrDriverExited)
	// The disconnects are delivered while the driver starts again: a
	// callback that reconnects waits for the restart, which must not wait
	// for it. (Added under the lock: close waits for drops only once it set
	// Closed.)
	reason := sdk.Errorf(sdk.ErrDriverExited, "interface %s: the %s driver process died", i.name, i.driver)
	i.drops.Go(func() { _ = g.close(reason) })
	up := time.Since(i.upAt).Round(time.Millisecond)
	i.mu.Unlock()

	for {
		i.mu.Lock()
		wait := i.backoffLocked()
		i.retryAt = time.Now().Add(wait)
		crashes := i.crashes
		i.mu.Unlock()
		if crashes == 1 {
			i.logger.Warn("driver exited; starting it again", "driver", i.driver, "was_up", up)
		} else {
			i.logger.Warn("driver keeps failing; starting it again after a backoff", "driver", i.driver,
				"was_up", up, "failures", crashes, "retry_in", wait)
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-i.stop:
				t.Stop()
				return
			}
		}
		up = 0
		ctx, cancel := context.WithTimeout(context.Background(), i.startTimeout())
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
			i.restarts++
			i.publishLocked(ng)
			i.mu.Unlock()
			i.logger.Info("driver restarted", "driver", i.driver, "restarts", i.Restarts().Total)
			return
		}
		i.lastErr = err
		i.mu.Unlock()
		i.logger.Error("restarting the driver failed", "error", err)
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
	case <-time.After(i.startTimeout()):
		i.logger.Warn("closing with disconnect callbacks still running")
	}
	if errors.Is(err, sdk.ErrDriverExited) {
		err = nil
	}
	return err
}
