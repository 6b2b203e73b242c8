package core_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// TestPluginKilled kills the driver process with SIGKILL while sockets are
// open and data flows: every socket gets exactly one disconnect with
// ErrDriverExited within a second, the host keeps running, and the next
// connect works on a restarted driver.
func TestPluginKilled(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	lo := iface(t, h, "lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const port, clients = 7000, 4
	var (
		mu     sync.Mutex
		drops  = map[*core.Socket]int{}
		reason = map[*core.Socket]error{}
		all    = make(chan *core.Socket, 2*clients+1)
		firstD = make(chan time.Time, 2*clients+1)
		bytes  atomic.Int64
	)
	onDrop := func(s *core.Socket, r error) {
		mu.Lock()
		drops[s]++
		reason[s] = r
		mu.Unlock()
		firstD <- time.Now()
	}
	echo := core.Handlers{
		Connected:    func(s *core.Socket) { all <- s },
		Received:     func(s *core.Socket, d []byte) { bytes.Add(int64(len(d))); _ = s.Send(d) },
		Disconnected: onDrop,
	}
	l, err := lo.Listen(ctx, port, echo, nil)
	if err != nil {
		t.Fatal(err)
	}
	var socks []*core.Socket
	for range clients {
		s, err := lo.Connect(ctx, "127.0.0.1", port, core.Handlers{
			Received:     func(s *core.Socket, d []byte) { bytes.Add(int64(len(d))); _ = s.Send(d) },
			Disconnected: onDrop,
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
		if err := s.Send(make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	for range clients {
		socks = append(socks, <-all)
	}
	// Data is flowing: the echo ping-pong never stops until the kill.
	for bytes.Load() < 100_000 {
		select {
		case <-ctx.Done():
			t.Fatal("no traffic before the kill")
		case <-time.After(time.Millisecond):
		}
	}
	pid := lo.PID()
	if pid == 0 {
		t.Fatal("no plugin process id")
	}
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(time.Second)
	for range socks {
		select {
		case at := <-firstD:
			if d := at.Sub(killed); d > time.Second {
				t.Errorf("a disconnect came %v after the kill", d)
			}
		case <-deadline:
			t.Fatalf("not every socket got its disconnect within 1s of the kill")
		}
	}
	time.Sleep(200 * time.Millisecond) // any second disconnect would show now
	mu.Lock()
	for _, s := range socks {
		if drops[s] != 1 {
			t.Errorf("%v: %d disconnects, want exactly 1", s, drops[s])
		}
		if !errors.Is(reason[s], sdk.ErrDriverExited) {
			t.Errorf("%v: disconnect reason %v, want ErrDriverExited", s, reason[s])
		}
	}
	mu.Unlock()
	if err := socks[0].Send([]byte("x")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("send on a socket of the dead driver: %v, want ErrClosed", err)
	}
	_ = l.Close() // the listener died with the driver: closing it is harmless

	// The next connect works on the restarted driver.
	got := make(chan []byte, 1)
	if _, err := lo.Listen(ctx, port, core.Handlers{Received: func(s *core.Socket, d []byte) { _ = s.Send(d) }}, nil); err != nil {
		t.Fatalf("listen after the restart: %v", err)
	}
	s, err := lo.Connect(ctx, "127.0.0.1", port, core.Handlers{Received: func(s *core.Socket, d []byte) { got <- d }}, nil)
	if err != nil {
		t.Fatalf("connect after the restart: %v", err)
	}
	if err := s.Send([]byte("again")); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if string(d) != "again" {
			t.Fatalf("echo after restart: %q", d)
		}
	case <-ctx.Done():
		t.Fatal("no echo after the restart")
	}
	if newPID := lo.PID(); newPID == pid || newPID == 0 {
		t.Errorf("driver process after restart: pid %d (was %d)", newPID, pid)
	}
}

// TestReconnectFromDisconnect: a disconnect callback that opens a new socket
// (the usual reconnect pattern) waits for the restarted driver, which must
// not wait for that callback. (A review found the restart ran after every
// disconnect callback had returned, on the same goroutine.)
func TestReconnectFromDisconnect(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	lo := iface(t, h, "lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 4
	relistened := make(chan error, n)
	for k := range n {
		port := 7100 + k
		_, err := lo.Listen(ctx, port, core.Handlers{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = lo.Connect(ctx, "127.0.0.1", port, core.Handlers{
			Disconnected: func(s *core.Socket, reason error) {
				// No deadline of its own: it relies on the restart.
				l, err := lo.Listen(context.Background(), port+100, core.Handlers{}, nil)
				if err == nil {
					_ = l.Close()
				}
				relistened <- err
			},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Kill(lo.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for range n {
		select {
		case err := <-relistened:
			if err != nil {
				t.Errorf("listen from a disconnect callback: %v", err)
			}
		case <-deadline:
			t.Fatal("disconnect callbacks that open sockets did not complete within 10s of the kill")
		}
	}
}
