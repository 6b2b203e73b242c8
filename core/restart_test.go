package core_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// dyingDriver is loopback whose process exits 200 ms after each start.
type dyingDriver struct{ *loopback.Driver }

func (d dyingDriver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	time.AfterFunc(200*time.Millisecond, func() { os.Exit(3) })
	return d.Driver.Open(ctx, req)
}

func init() {
	builtins["dying"] = func() sdk.Driver { return dyingDriver{loopback.New()} }
}

// TestRestartBackoffAcrossCrashes: a plugin that dies 200 ms after every
// successful start is restarted with a growing backoff, not five times a
// second, and Interface.Restarts shows the failures and the next start.
func TestRestartBackoffAcrossCrashes(t *testing.T) {
	h, err := core.New(core.Config{
		Interfaces: []core.IfaceConfig{{Name: "x0", Driver: "dying"}},
		Builtins:   builtins,
		Logger:     testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	x := iface(t, h, "x0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.Start(ctx); err != nil {
		t.Fatal(err)
	}
	const watch = 5 * time.Second
	var sawNext bool
	for end := time.Now().Add(watch); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if r := x.Restarts(); !r.Next.IsZero() && r.Next.After(time.Now()) {
			sawNext = true
		}
	}
	r := x.Restarts()
	t.Logf("in %v: %d restarts, %d failures in a row", watch, r.Total, r.Crashes)
	// 50 ms doubling: restarts near 0.2, 0.45, 0.75, 1.15, 1.75, 2.75, 4.55 s.
	// Restarting at once after each death gives about 16.
	if r.Total > 9 {
		t.Errorf("%d restarts in %v: no backoff across crashes", r.Total, watch)
	}
	if r.Total < 3 {
		t.Errorf("only %d restarts in %v: the driver is not restarted", r.Total, watch)
	}
	if r.Crashes < r.Total {
		t.Errorf("Restarts().Crashes = %d after %d restarts without a stable run", r.Crashes, r.Total)
	}
	if !sawNext {
		t.Error("Restarts().Next never showed the next start while backing off")
	}
}

// TestRestartBackoffStartsOver: a driver that stayed up for twice
// MaxRestartBackoff before dying is restarted at once, with its failure
// count started over.
func TestRestartBackoffStartsOver(t *testing.T) {
	h, err := core.New(core.Config{
		Interfaces:        []core.IfaceConfig{{Name: "x0", Driver: "dying"}},
		Builtins:          builtins,
		Logger:            testLogger(t),
		RestartBackoff:    20 * time.Millisecond,
		MaxRestartBackoff: 50 * time.Millisecond, // stable after 100 ms up
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	x := iface(t, h, "x0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := x.Start(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	r := x.Restarts()
	t.Logf("in 3 s: %d restarts, %d failures in a row", r.Total, r.Crashes)
	if r.Total < 6 {
		t.Errorf("%d restarts in 3 s of a driver up 200 ms at a time, want about 10", r.Total)
	}
	if r.Crashes > 1 {
		t.Errorf("Crashes = %d: runs of 200 ms (twice MaxRestartBackoff is 100 ms) did not reset it", r.Crashes)
	}
}
