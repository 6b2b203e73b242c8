package sdktest

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// reports collects what a recorder reports.
type reports struct {
	mu   sync.Mutex
	list []string
}

func (r *reports) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, fmt.Sprintf(format, args...))
}

// want fails t unless exactly the reports containing the given fragments
// were made, in any order.
func (r *reports) want(t *testing.T, fragments ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.list) != len(fragments) {
		t.Fatalf("reports %q, want %d matching %q", r.list, len(fragments), fragments)
	}
	for _, f := range fragments {
		found := false
		for _, s := range r.list {
			found = found || strings.Contains(s, f)
		}
		if !found {
			t.Errorf("no report contains %q in %q", f, r.list)
		}
	}
}

// newTestRecorder returns a recorder of a driver that can half-close.
func newTestRecorder() (*recorder, *reports) {
	r := &reports{}
	rec := newRecorder(r.add, 20*time.Millisecond)
	rec.setHalfClose(true)
	return rec, r
}

var peer = netip.MustParseAddrPort("127.0.0.1:49152")

func TestRecorderCleanSequence(t *testing.T) {
	rec, reps := newTestRecorder()
	l := rec.claim(1, kindListener, nil, "Listen")
	rec.claim(2, kindClient, nil, "Connect")
	rec.Accepted(1, 3, peer)
	_ = rec.Received(3, []byte("ab"))
	_ = rec.Received(3, []byte("c"))
	rec.Dropped(3, sdk.ErrPeerClosed)
	rec.finish()
	reps.want(t)
	if len(l.queue) != 1 || string(l.queue[0].data()) != "abc" || !l.queue[0].dropped {
		t.Errorf("the accepted socket was not recorded: %+v", l.queue)
	}
}

func TestRecorderWaitsForConnectToReturn(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claimWait = 10 * time.Second
	done := make(chan struct{})
	go func() {
		_ = rec.Received(5, []byte("early"))
		close(done)
	}()
	for {
		rec.mu.Lock()
		seen := rec.socks[5] != nil
		rec.mu.Unlock()
		if seen {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c := rec.claim(5, kindClient, nil, "Connect")
	<-done
	reps.want(t)
	if string(c.data()) != "early" {
		t.Errorf("got %q", c.data())
	}
}

func TestRecorderUnknownSocket(t *testing.T) {
	rec, reps := newTestRecorder()
	_ = rec.Received(9, []byte("x"))
	rec.finish()
	reps.want(t, "no Connect, Listen or Accepted announced within", "had 1 event(s) but no Connect")
}

func TestRecorderConcurrentEvents(t *testing.T) {
	rec, reps := newTestRecorder()
	inside, release := make(chan struct{}), make(chan struct{})
	rec.claim(1, kindClient, func(*conn, []byte) {
		close(inside)
		<-release
	}, "Connect")
	go func() { _ = rec.Received(1, []byte("a")) }()
	<-inside
	rec.setHandlerForTest(1, nil)
	_ = rec.Received(1, []byte("b"))
	close(release)
	reps.want(t, "never run concurrently")
}

// setHandlerForTest replaces a socket's handler.
func (r *recorder) setHandlerForTest(id sdk.Socket, h handler) {
	r.mu.Lock()
	r.socks[id].handler = h
	r.mu.Unlock()
}

func TestRecorderAfterDropped(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claim(1, kindClient, nil, "Connect")
	rec.Dropped(1, sdk.ErrReset)
	_ = rec.Received(1, []byte("late"))
	rec.Dropped(1, sdk.ErrReset)
	reps.want(t, "after its Dropped", "second Dropped")
}

func TestRecorderAfterLocalClose(t *testing.T) {
	rec, reps := newTestRecorder()
	c := rec.claim(1, kindClient, nil, "Connect")
	c.closeCalled, c.closeReturned = true, true
	if err := rec.Received(1, []byte("late")); err == nil {
		t.Error("Received on a closed socket returned nil, want ErrClosed")
	}
	rec.Dropped(1, sdk.ErrPeerClosed)
	reps.want(t, "after its CloseSocket returned", "a local close fires no Dropped")
}

func TestRecorderAcceptedRules(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claim(1, kindClient, nil, "Connect")
	rec.claim(2, kindListener, nil, "Listen")
	rec.Accepted(1, 3, peer)                 // names a client as listener
	rec.Accepted(2, 1, peer)                 // announces a socket Connect returned
	rec.Accepted(2, 4, netip.AddrPort{})     // no peer
	rec.claim(4, kindClient, nil, "Connect") // reuses an id
	reps.want(t, "but that is a client socket", "Accepted must be a socket's first event", "want a valid address", "already in use")
}

func TestRecorderAfterClose(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claim(1, kindClient, nil, "Connect")
	rec.beginClose()
	if err := rec.Received(1, []byte("x")); err == nil {
		t.Error("Received while closing returned nil, want ErrClosed")
	}
	rec.endClose()
	rec.Dropped(1, nil)
	reps.want(t, "after the driver's Close returned", "nil reason")
}

func TestRecorderFinishedSequence(t *testing.T) {
	rec, reps := newTestRecorder()
	var ran []sdk.Socket
	l := rec.claim(1, kindListener, nil, "Listen")
	l.onFinished = func(c *conn) { ran = append(ran, c.id) }
	rec.Accepted(1, 2, peer)
	_ = rec.Received(2, []byte("ab"))
	rec.Finished(2)
	rec.Dropped(2, sdk.ErrReset) // the connection may break after the FIN
	rec.finish()
	reps.want(t)
	c := l.queue[0]
	if !c.finished || !c.dropped || string(c.data()) != "ab" {
		t.Errorf("the sequence was not recorded: %s", c.describe())
	}
	if len(ran) != 1 || ran[0] != 2 {
		t.Errorf("the finished handler inherited from the listener ran for %v, want socket 2 once", ran)
	}
}

func TestRecorderFinishedOrder(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claim(1, kindClient, nil, "Connect")
	rec.Finished(1)
	_ = rec.Received(1, []byte("late"))
	rec.Finished(1)
	reps.want(t, "after its Finished", "second Finished")
}

func TestRecorderFinishedAfterDropped(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claim(1, kindClient, nil, "Connect")
	rec.Dropped(1, sdk.ErrPeerClosed)
	rec.Finished(1)
	reps.want(t, "Finished on socket 1 after its Dropped")
}

func TestRecorderFinishedOnListener(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claim(1, kindListener, nil, "Listen")
	rec.Finished(1)
	reps.want(t, "which is a listener")
}

func TestRecorderFinishedWithoutHalfClose(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.setHalfClose(false)
	rec.claim(1, kindClient, nil, "Connect")
	rec.Finished(1)
	reps.want(t, "Info.CanHalfClose is false")
}

func TestRecorderFinishedAfterLocalClose(t *testing.T) {
	rec, reps := newTestRecorder()
	ran := false
	c := rec.claim(1, kindClient, nil, "Connect")
	c.onFinished = func(*conn) { ran = true }
	c.closeCalled = true // CloseSocket is running: an event may still come
	rec.Finished(1)
	reps.want(t)
	if ran {
		t.Error("the finished handler ran for a socket being closed")
	}
	rec.claim(2, kindClient, nil, "Connect")
	rec.socks[2].closeCalled, rec.socks[2].closeReturned = true, true
	rec.Finished(2)
	reps.want(t, "Finished on socket 2 after its CloseSocket returned")
}

func TestRecorderFinishedAfterClose(t *testing.T) {
	rec, reps := newTestRecorder()
	rec.claim(1, kindClient, nil, "Connect")
	rec.beginClose()
	rec.endClose()
	rec.Finished(1)
	reps.want(t, "Finished on socket 1 after the driver's Close returned")
}

func TestRecorderFinishedConcurrent(t *testing.T) {
	rec, reps := newTestRecorder()
	inside, release := make(chan struct{}), make(chan struct{})
	rec.claim(1, kindClient, func(*conn, []byte) {
		close(inside)
		<-release
	}, "Connect")
	go func() { _ = rec.Received(1, []byte("a")) }()
	<-inside
	rec.Finished(1)
	close(release)
	reps.want(t, "Finished on socket 1 while another event of it runs")
}

func TestDiff(t *testing.T) {
	for _, c := range []struct{ got, want, msg string }{
		{"abc", "abc", ""},
		{"ab", "abc", "got 2 bytes, want 3 (the first 2 are equal)"},
		{"abx", "abc", "differ from byte 2"},
	} {
		err := diff([]byte(c.got), []byte(c.want))
		if (err == nil) != (c.msg == "") || err != nil && !strings.Contains(err.Error(), c.msg) {
			t.Errorf("diff(%q, %q) = %v, want %q", c.got, c.want, err, c.msg)
		}
	}
}
