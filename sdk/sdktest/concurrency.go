package sdktest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// testConcurrentSockets: eight connections carry 64 KiB each at the same
// time, in 2 KiB Sends from a goroutine each; all arrive byte-exact, and
// the recorder sees no socket's events overlap.
func testConcurrentSockets(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	const size, chunk = 64 << 10, 2 << 10
	var cs []*conn
	for range 8 {
		c, err := e.echoErr()
		if err != nil {
			if errors.Is(err, sdk.ErrNoSockets) && len(cs) >= 2 {
				break
			}
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			s := newStream(uint64(100 + i))
			for range size / chunk {
				if err := e.send(c, s.next(chunk)); err != nil {
					e.x.report("Send on %v: %v", c, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, c := range cs {
		compare(t, fmt.Sprintf("echo on %v, one of %d at once", c, len(cs)), e.awaitBytes(c, size), pattern(size, uint64(100+i)))
	}
}

// sendBound is how much a sender may push to a socket whose handler is
// blocked before the suite calls its receive path unbounded (rule 6).
const sendBound = 64 << 20

// testSlowHandler: while one socket's Received handler is blocked, Send to
// it stops (its ctx ends it with ErrTimeout) after a bounded amount, and
// another socket's round trips go on (rules 2 and 6). Released, the slow
// socket gets every byte that was taken, in order. A driver without flow
// control may instead drop the slow socket with ErrOverflow.
func testSlowHandler(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	defer release()
	held := make(chan struct{}, 1)
	cs, as := e.pair(func(*conn, []byte) {
		select {
		case held <- struct{}{}:
		default:
		}
		select {
		case <-gate:
		case <-e.ctx.Done():
		}
	})
	fast, err := e.echoErr()
	if errors.Is(err, sdk.ErrNoSockets) {
		t.Skip("needs more sockets than the driver has: two connections and two listeners")
	} else if err != nil {
		t.Fatal(err)
	}
	e.roundTrip(fast, []byte("warm up"))

	type result struct {
		taken, last int
		err         error
	}
	done := make(chan result, 1)
	go func() {
		s := newStream(9)
		r := result{}
		for r.taken < sendBound {
			b := s.next(16 << 10)
			ctx, cancel := context.WithTimeout(e.ctx, x.s.scale(250*time.Millisecond))
			err := e.d.Send(ctx, cs.id, b)
			cancel()
			if err != nil {
				r.err, r.last = err, len(b)
				break
			}
			r.taken += len(b)
		}
		done <- r
	}()
	wait := time.After(x.s.scale(baseWait))
	select {
	case <-held:
	case <-wait:
		t.Fatalf("no data reached the slow handler within %v", x.s.scale(baseWait))
	}
	var r result
	select {
	case r = <-done:
	case <-wait:
		t.Fatalf("the sender neither blocked nor failed within %v", x.s.scale(baseWait))
	}
	dropInstead := false
	switch {
	case r.err == nil:
		t.Fatalf("a peer took %d MiB while its handler was blocked: receive is not flow-controlled (rule 6)", r.taken>>20)
	case ctxErr(r.err):
		t.Logf("Send blocked after %d KiB with the handler held: %v", r.taken>>10, r.err)
	case gone(r.err):
		t.Logf("Send failed after %d KiB with the handler held: %v; expecting Dropped(ErrOverflow)", r.taken>>10, r.err)
		dropInstead = true
	default:
		t.Fatalf("Send to a socket whose handler is blocked: %v, want it to block until its ctx ends (ErrTimeout)", r.err)
	}

	for i := range 20 {
		e.roundTrip(fast, pattern(64, uint64(1000+i)))
	}

	release()
	if dropInstead {
		wantErr(t, "Dropped reason of a socket that could not keep up", e.awaitDrop(as), sdk.ErrOverflow)
		return
	}
	got := e.awaitBytes(as, r.taken)
	if len(got) > r.taken+r.last {
		t.Errorf("the slow socket received %d bytes, but only %d were sent", len(got), r.taken+r.last)
	}
	compare(t, "data held back by a slow handler", got, pattern(len(got), 9))
}
