package sdktest

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"
)

// testEcho returns a subtest that sends size bytes in one Send (the driver
// splits it) to an echoing peer and compares what comes back, byte for byte.
func testEcho(size int) func(t *testing.T, x *subtest) {
	return func(t *testing.T, x *subtest) {
		e := x.open(x.s.h.Settings)
		c := e.echo()
		want := pattern(size, uint64(size))
		e.mustSend(c, want)
		compare(t, fmt.Sprintf("echo of %d bytes", size), e.awaitBytes(c, size), want)
		if n := e.state(c).n; n != size {
			t.Errorf("echo of %d bytes: received %d", size, n)
		}
	}
}

// testRoundTrips: 100 sequential round trips of 64 bytes, each different,
// each byte-exact.
func testRoundTrips(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	c := e.echo()
	for i := range 100 {
		e.roundTrip(c, pattern(64, uint64(i)))
	}
}

// testBurst: 100 Sends of different sizes without waiting, then all of
// them echoed, in order.
func testBurst(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	c := e.echo()
	s := newStream(5)
	var want []byte
	for i := range 100 {
		b := s.next(1 + i*37%3000)
		want = append(want, b...)
		e.mustSend(c, b)
	}
	compare(t, "burst of 100 sends", e.awaitBytes(c, len(want)), want)
}

// testStream: 1 MiB sent in 256 Sends of 4 KiB arrives whole and in order,
// in as many Received calls as the driver likes (on the accepted socket
// itself when the driver connects to itself, else through an echo).
func testStream(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	var from, to *conn
	if e.canSelf() {
		from, to = e.pair(nil)
	} else {
		from = e.echo()
		to = from
	}
	s := newStream(6)
	var want []byte
	for range 256 {
		b := s.next(4 << 10)
		want = append(want, b...)
		e.mustSend(from, b)
	}
	compare(t, "stream of 1 MiB", e.awaitBytes(to, len(want)), want)
	e.rec.mu.Lock()
	t.Logf("1 MiB arrived in %d Received calls", to.events)
	e.rec.mu.Unlock()
}

// testPingPongInHandlers: both ends send from inside their Received
// handlers, 200 exchanges of a counter.
func testPingPongInHandlers(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	const last = 200
	done := make(chan struct{})
	server := &exchange{e: e, last: last, done: done}
	client := &exchange{e: e, last: last, done: done}
	c, _ := e.pair(server.handle)
	e.setHandler(c, client.handle)
	e.mustSend(c, binary.LittleEndian.AppendUint64(nil, 0))
	select {
	case <-done:
	case <-time.After(x.s.scale(baseWait)):
		t.Fatalf("the counter did not reach %d within %v: a Send from inside Received blocked or data was lost", last, x.s.scale(baseWait))
	}
}

// testConcurrentSends: 8 goroutines send 50 framed messages each on one
// socket at once; every message arrives whole (the bytes of one Send stay
// together) and each goroutine's messages arrive in order.
func testConcurrentSends(t *testing.T, x *subtest) {
	e := x.open(x.s.h.Settings)
	const senders, count = 8, 50
	size := 256
	if w := e.info.MaxWrite; w > 0 && w < size {
		size = max(w, 8)
	}
	var from, to *conn
	if e.canSelf() {
		from, to = e.pair(nil)
	} else {
		from = e.echo()
		to = from
	}
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for seq := range count {
				if err := e.send(from, frame(g, seq, size)); err != nil {
					e.x.report("Send from goroutine %d: %v", g, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := e.awaitBytes(to, senders*count*size)
	next := make([]int, senders)
	for off := 0; off+size <= len(got); off += size {
		f := got[off : off+size]
		g, seq := int(f[0]), int(binary.LittleEndian.Uint16(f[1:]))
		if g >= senders || seq != next[g] || diff(f, frame(g, seq, size)) != nil {
			t.Fatalf("message at byte %d is not the next whole message of a sender: concurrent Sends interleaved or reordered bytes", off)
		}
		next[g]++
	}
}

// frame is message seq of sender g: its header, then bytes that depend on both.
func frame(g, seq, size int) []byte {
	b := make([]byte, size)
	b[0] = byte(g)
	binary.LittleEndian.PutUint16(b[1:], uint16(seq))
	for i := 3; i < size; i++ {
		b[i] = byte(g*31 + seq*7 + i)
	}
	return b
}
