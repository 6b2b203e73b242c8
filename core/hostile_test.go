package core_test

import (
	"bytes"
	"context"
	"math"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/plugins/loopback"
	"github.com/ifsock/ifsock/sdk"
)

// floodDriver is loopback that declares 4,294,967,295 sockets and, on
// demand, floods the host with data: for sockets it never opened
// (Connect to "flood-unknown"), or for sockets it says its listener
// accepted (Connect to "flood-accepted", port = the listener's port).
type floodDriver struct {
	*loopback.Driver
	mu        sync.Mutex
	events    sdk.Events
	listeners map[int]sdk.Socket
}

const (
	floodChunk   = 128 << 10
	floodSockets = 2048 // unknown sockets, a chunk each
	floodAccepts = 128  // accepted sockets, a full 1 MiB window each
)

func (d *floodDriver) Open(ctx context.Context, req sdk.OpenRequest) (sdk.Info, error) {
	d.mu.Lock()
	d.events = req.Events
	d.listeners = map[int]sdk.Socket{}
	d.mu.Unlock()
	info, err := d.Driver.Open(ctx, req)
	info.MaxSockets = math.MaxUint32
	return info, err
}

func (d *floodDriver) Listen(ctx context.Context, req sdk.ListenRequest) (sdk.Socket, error) {
	s, err := d.Driver.Listen(ctx, req)
	if err == nil {
		d.mu.Lock()
		d.listeners[req.Port] = s
		d.mu.Unlock()
	}
	return s, err
}

func (d *floodDriver) Connect(ctx context.Context, req sdk.ConnectRequest) (sdk.Socket, error) {
	d.mu.Lock()
	ev, l := d.events, d.listeners[req.Port]
	d.mu.Unlock()
	switch req.Host {
	case "flood-unknown":
		for i := range floodSockets {
			if ev.Received(sdk.Socket(1<<40+i), make([]byte, floodChunk)) != nil {
				break
			}
		}
		return 0, sdk.Errorf(sdk.ErrRefused, "flooded")
	case "flood-accepted":
		peer := netip.MustParseAddrPort("127.0.0.1:1")
		var wg sync.WaitGroup
		for i := range floodAccepts {
			s := sdk.Socket(1<<40 + i)
			ev.Accepted(l, s, peer)
			wg.Go(func() {
				for range (1 << 20) / floodChunk {
					if ev.Received(s, make([]byte, floodChunk)) != nil {
						return
					}
				}
			})
		}
		wg.Wait()
		return 0, sdk.Errorf(sdk.ErrRefused, "flooded")
	}
	return d.Driver.Connect(ctx, req)
}

func init() {
	builtins["flood"] = func() sdk.Driver { return &floodDriver{Driver: loopback.New()} }
}

// syncBuffer is a log sink tests read while the host writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// heapPeak samples the host's heap for d and returns the most it grew
// over base, with the most goroutines seen.
func heapPeak(d time.Duration, base uint64) (grew uint64, goroutines int) {
	var ms runtime.MemStats
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > base {
			grew = max(grew, ms.HeapAlloc-base)
		}
		goroutines = max(goroutines, runtime.NumGoroutine())
	}
	return grew, goroutines
}

func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestHostilePluginUnknownSockets: a plugin that declares 4,294,967,295
// sockets and sends 2,048 chunks of 128 KiB for sockets it never opened
// holds no more than a few MiB of host heap and no goroutine per socket; it
// is stopped, the log says why, and the interface works again after.
func TestHostilePluginUnknownSockets(t *testing.T) {
	logs := &syncBuffer{}
	h, err := core.New(core.Config{
		Interfaces: []core.IfaceConfig{{Name: "x0", Driver: "flood"}},
		Builtins:   builtins,
		Logger:     hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Warn, Output: logs}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	x := iface(t, h, "x0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := x.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pid := x.PID()
	base, g0 := heapNow(), runtime.NumGoroutine()

	go func() { _, _ = x.Connect(ctx, "flood-unknown", 1, core.Handlers{}, nil) }()
	grew, goroutines := heapPeak(3*time.Second, base)
	t.Logf("host heap grew by at most %.1f MiB; goroutines %d -> %d at most", float64(grew)/(1<<20), g0, goroutines)
	if grew > 16<<20 {
		t.Errorf("a plugin flooding sockets it never opened held %.1f MiB of host heap, want under 16 MiB", float64(grew)/(1<<20))
	}
	if goroutines > g0+200 {
		t.Errorf("goroutines went from %d to %d", g0, goroutines)
	}
	if !strings.Contains(logs.String(), "broke the protocol") {
		t.Errorf("the log does not say the plugin broke the protocol:\n%s", logs.String())
	}
	// The interface serves again, from a new process.
	l, err := x.Listen(ctx, 9300, core.Handlers{}, nil)
	if err != nil {
		t.Fatalf("listen after the plugin was stopped: %v", err)
	}
	defer l.Close()
	if x.PID() == pid {
		t.Errorf("the plugin that broke the protocol still runs (pid %d)", pid)
	}
}

// TestHostilePluginBoundedByHostConfig: a plugin that introduces its
// sockets properly (128 accepted on a listener) and fills every socket's
// 1 MiB window while the application's handlers sleep holds at most the
// host's ReceiveBuffer, not the sum of the windows.
func TestHostilePluginBoundedByHostConfig(t *testing.T) {
	const budget = 8 << 20
	h, err := core.New(core.Config{
		Interfaces:    []core.IfaceConfig{{Name: "x0", Driver: "flood"}},
		Builtins:      builtins,
		Logger:        testLogger(t),
		ReceiveBuffer: budget,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	x := iface(t, h, "x0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wake := make(chan struct{})
	var got sync.Map
	l, err := x.Listen(ctx, 9301, core.Handlers{Received: func(s *core.Socket, data []byte) {
		got.Store(s, true)
		<-wake // a handler asleep until the test ends
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	defer close(wake)
	base := heapNow()
	go func() { _, _ = x.Connect(ctx, "flood-accepted", 9301, core.Handlers{}, nil) }()
	grew, _ := heapPeak(3*time.Second, base)
	n := 0
	got.Range(func(any, any) bool { n++; return true })
	t.Logf("%d sockets delivered data; host heap grew by at most %.1f MiB (ReceiveBuffer %d MiB, windows %d MiB)",
		n, float64(grew)/(1<<20), budget>>20, floodAccepts)
	if n == 0 {
		t.Fatal("no data reached the handlers: the flood did not run")
	}
	if grew > budget+8<<20 {
		t.Errorf("host heap grew by %.1f MiB, beyond ReceiveBuffer (%d MiB) and slack", float64(grew)/(1<<20), budget>>20)
	}
}
