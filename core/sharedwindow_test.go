package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
)

// TestCloseWhileStarvedForSharedCredit: the plugin's Received for socket B
// waits for shared credit; the application closes B; the next shared credit
// (another socket consuming) makes the plugin send on B's closed wake
// channel: the plugin panics and every socket of the interface is dropped.
func TestCloseWhileStarvedForSharedCredit(t *testing.T) {
	h, err := core.New(core.Config{Interfaces: []core.IfaceConfig{{Name: "lo0", Driver: "loopback"}},
		Builtins: builtins, Logger: testLogger(t), ReceiveBuffer: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	i := iface(t, h, "lo0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	gate := make(chan struct{})
	var mu sync.Mutex
	var accepted []*core.Socket
	gotA := make(chan struct{}, 1)
	dropped := make(chan error, 4)
	lh := core.Handlers{
		Connected: func(s *core.Socket) { mu.Lock(); accepted = append(accepted, s); mu.Unlock() },
		Received: func(s *core.Socket, data []byte) {
			select {
			case gotA <- struct{}{}:
			default:
			}
			<-gate
		},
		Disconnected: func(s *core.Socket, reason error) { dropped <- reason },
	}
	l, err := i.Listen(ctx, 0, lh, nil)
	if err != nil {
		t.Fatal(err)
	}
	la, _ := l.Local()
	port := int(la.Port())
	c1, err := i.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go c1.Send(make([]byte, 1<<20)) // fills the shared window behind a blocked handler
	<-gotA
	time.Sleep(200 * time.Millisecond)
	c2, err := i.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	go c2.Send(make([]byte, 4096)) // B's Received in the plugin waits for shared credit
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	if len(accepted) != 2 {
		mu.Unlock()
		t.Fatalf("%d accepted", len(accepted))
	}
	b := accepted[1]
	mu.Unlock()
	_ = b.Close() // the plugin ends B while its Received waits
	time.Sleep(200 * time.Millisecond)
	close(gate) // A consumes: shared credit goes back
	select {
	case reason := <-dropped:
		t.Fatalf("a socket was dropped: %v (restarts %+v)", reason, i.Restarts())
	case <-time.After(2 * time.Second):
	}
	if r := i.Restarts(); r.Total > 0 || r.Crashes > 0 {
		t.Fatalf("the plugin died: %+v", r)
	}
}
