package hostnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

func TestEchoIPv4AndIPv6(t *testing.T) {
	for _, c := range []struct{ network, listen, host string }{
		{"tcp4", "127.0.0.1:0", "127.0.0.1"},
		{"tcp6", "[::1]:0", "::1"},
		{"tcp6", "[::1]:0", "[::1]"},
	} {
		t.Run(c.host, func(t *testing.T) {
			r := newRecorder()
			d, _ := open(t, r, sdk.Settings{"read_size": "1000"})
			port := echoServer(t, c.network, c.listen)
			s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: c.host, Port: port})
			if err != nil {
				t.Fatal(err)
			}
			p, err := d.Peer(ctxT(t), s)
			want := netip.MustParseAddrPort(c.listen).Addr()
			if err != nil || p != netip.AddrPortFrom(want, uint16(port)) {
				t.Errorf("peer = %v, %v; want %v port %d", p, err, want, port)
			}
			msg := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB, several reads of read_size
			if err := d.Send(ctxT(t), s, msg); err != nil {
				t.Fatal(err)
			}
			if got := r.data(t, s, len(msg)); !bytes.Equal(got, msg) {
				t.Errorf("echo differs: got %d bytes", len(got))
			}
			r.check(t)
		})
	}
}

// TestAcceptedBeforeData: a peer that writes at once is announced before
// its data, the accepted socket talks both ways, and the peer's close is
// its Finished, after all of its data; the host's close then frees it.
func TestAcceptedBeforeData(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, nil)
	l, port := listenZero(t, d)
	const conns = 20
	var clients []net.Conn
	for i := range conns {
		c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		if _, err := c.Write([]byte{byte(i), 1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	socks := map[netip.AddrPort]sdk.Socket{}
	for i := range conns {
		ev := r.accepted(t, i+1)
		if ev.listener != l {
			t.Errorf("accepted by %v, want %v", ev.listener, l)
		}
		socks[ev.peer] = ev.sock
	}
	for i, c := range clients {
		s, ok := socks[c.LocalAddr().(*net.TCPAddr).AddrPort()]
		if !ok {
			t.Fatalf("client %d (%v) was not announced", i, c.LocalAddr())
		}
		if got := r.data(t, s, 4); !bytes.Equal(got, []byte{byte(i), 1, 2, 3}) {
			t.Errorf("data of client %d = %v", i, got)
		}
		if err := d.Send(ctxT(t), s, []byte("pong")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		c.SetReadDeadline(time.Now().Add(watchdog))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
			t.Errorf("client %d read %q, %v", i, buf, err)
		}
		c.Write([]byte("last"))
		c.Close()
		if got := r.finished(t, s); string(got[4:]) != "last" {
			t.Errorf("data before Finished = %q", got)
		}
		if err := d.CloseSocket(ctxT(t), s); err != nil {
			t.Errorf("close after Finished: %v", err)
		}
		if err := d.Send(ctxT(t), s, []byte("x")); !errors.Is(err, sdk.ErrClosed) {
			t.Errorf("send after close: %v, want ErrClosed", err)
		}
		if err := d.CloseSocket(ctxT(t), s); !errors.Is(err, sdk.ErrClosed) {
			t.Errorf("second close: %v, want ErrClosed", err)
		}
	}
	r.check(t)
}

func TestDroppedOnReset(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, nil)
	s, c := connectOut(t, d)
	c.SetLinger(0)
	c.Close()
	if reason := r.dropped(t, s); !errors.Is(reason, sdk.ErrReset) {
		t.Errorf("drop reason %v, want ErrReset", reason)
	}
	r.check(t)
}

// TestLocalCloseNoDropped: rule 3. A local close raises no Dropped, not even
// when the peer closes right after; the socket is then closed for Send,
// Peer and CloseSocket. Closing a listener keeps its accepted sockets.
func TestLocalCloseNoDropped(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, nil)
	l, port := listenZero(t, d)
	c1, err := net.Dial("tcp", hostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	a := r.accepted(t, 1).sock
	if err := d.Send(ctxT(t), l, []byte("x")); !errors.Is(err, sdk.ErrBadArgument) {
		t.Errorf("send on a listener: %v, want ErrBadArgument", err)
	}
	if _, err := d.Peer(ctxT(t), l); !errors.Is(err, sdk.ErrBadArgument) {
		t.Errorf("peer of a listener: %v, want ErrBadArgument", err)
	}
	if err := d.CloseSocket(ctxT(t), l); err != nil {
		t.Fatal(err)
	}
	// The accepted socket still works both ways.
	if err := d.Send(ctxT(t), a, []byte("still here")); err != nil {
		t.Errorf("send on an accepted socket after its listener closed: %v", err)
	}
	c1.Write([]byte("ping"))
	r.data(t, a, 4)
	if _, err := net.DialTimeout("tcp", hostPort("127.0.0.1", port), watchdog); err == nil {
		t.Errorf("the closed listener still accepts")
	}

	if err := d.CloseSocket(ctxT(t), a); err != nil {
		t.Fatal(err)
	}
	c1.Close()
	if err := d.CloseSocket(ctxT(t), a); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("second close: %v, want ErrClosed", err)
	}
	if err := d.Send(ctxT(t), a, []byte("x")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("send after close: %v, want ErrClosed", err)
	}
	if _, err := d.Peer(ctxT(t), a); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("peer after close: %v, want ErrClosed", err)
	}
	if err := d.CloseSocket(ctxT(t), 12345); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("close of an unknown socket: %v, want ErrClosed", err)
	}
	// Give a wrong Dropped the time to show up (a negative check: this only
	// waits, it asserts no timing).
	time.Sleep(200 * time.Millisecond)
	r.mu.Lock()
	for s, st := range r.streams {
		if st.dropped != nil {
			t.Errorf("%v dropped (%v) after a local close", s, st.dropped)
		}
	}
	r.mu.Unlock()
	r.check(t)
}

// TestCallbacksCallTheDriver: Send and CloseSocket from inside Received, as an
// echo handler would.
func TestCallbacksCallTheDriver(t *testing.T) {
	r := newRecorder()
	var d *Driver
	r.onReceived = func(s sdk.Socket, data []byte) error {
		if bytes.Equal(data, []byte("bye")) {
			return d.CloseSocket(context.Background(), s)
		}
		return d.Send(context.Background(), s, bytes.ToUpper(data))
	}
	d, _ = open(t, r, nil)
	_, port := listenZero(t, d)
	c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(watchdog))
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "HELLO" {
		t.Fatalf("read %q, %v", buf, err)
	}
	c.Write([]byte("bye"))
	if n, err := c.Read(buf); err == nil {
		t.Errorf("read %q after bye, want the socket closed", buf[:n])
	}
	r.check(t)
}

// TestSendConcurrent: concurrent Sends on one socket take turns, never
// interleaving their bytes.
func TestSendConcurrent(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	s, c := connectOut(t, d)
	const senders, sends, size = 8, 16, 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, senders*sends)
	for i := range senders {
		wg.Go(func() {
			msg := bytes.Repeat([]byte{byte('a' + i)}, size)
			for range sends {
				if err := d.Send(ctxT(t), s, msg); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	buf := make([]byte, size)
	c.SetReadDeadline(time.Now().Add(watchdog))
	for n := range senders * sends {
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("message %d: %v", n, err)
		}
		if k := bytes.Count(buf, buf[:1]); k != size {
			t.Fatalf("message %d mixes the bytes of several Sends", n)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestSendHonoursCtx: a Send blocked by a peer that does not read ends with
// its ctx, and the socket's next Send is not affected by the old deadline.
func TestSendHonoursCtx(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	s, c := connectOut(t, d)
	big := make([]byte, 64<<20) // more than the kernel buffers hold

	ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
	defer cancel()
	if err := d.Send(ctx, s, big); !errors.Is(err, sdk.ErrTimeout) {
		t.Errorf("send past the deadline: %v, want ErrTimeout", err)
	}
	ctx, cancel = context.WithCancel(ctxT(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := d.Send(ctx, s, big); !errors.Is(err, sdk.ErrCanceled) {
		t.Errorf("send canceled: %v, want ErrCanceled", err)
	}
	// A Send waiting for its turn behind a blocked one honours its ctx too.
	blocked := make(chan error, 1)
	go func() { blocked <- d.Send(ctxT(t), s, big) }()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel = context.WithTimeout(ctxT(t), 100*time.Millisecond)
	defer cancel()
	if err := d.Send(ctx, s, []byte("x")); !errors.Is(err, sdk.ErrTimeout) {
		t.Errorf("send waiting for its turn: %v, want ErrTimeout", err)
	}
	// Drain: the blocked Send completes, and a later Send without deadline
	// is not hit by an earlier one's.
	go io.Copy(io.Discard, c)
	if err := <-blocked; err != nil {
		t.Errorf("blocked send: %v", err)
	}
	if err := d.Send(ctxT(t), s, []byte("after")); err != nil {
		t.Errorf("send after the drain: %v", err)
	}
	// Close wakes a Send blocked on a peer that stopped reading.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln2.Close()
	s2, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: ln2.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	go func() { blocked <- d.Send(ctxT(t), s2, big) }()
	time.Sleep(50 * time.Millisecond)
	if err := d.CloseSocket(ctxT(t), s2); err != nil {
		t.Fatal(err)
	}
	if err := <-blocked; !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("send woken by CloseSocket: %v, want ErrClosed", err)
	}
}

func TestMaxSockets(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, sdk.Settings{"max_sockets": "2"})
	l, port := listenZero(t, d)
	echo := echoServer(t, "tcp", "127.0.0.1:0")
	s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: echo})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: echo}); !errors.Is(err, sdk.ErrNoSockets) {
		t.Errorf("third socket: %v, want ErrNoSockets", err)
	}
	if _, err := d.Listen(ctxT(t), sdk.ListenRequest{Port: 0}); !errors.Is(err, sdk.ErrNoSockets) {
		t.Errorf("third socket (listen): %v, want ErrNoSockets", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("ErrNoSockets took %v, want at once", el)
	}
	// An incoming connection beyond the limit is refused, never announced.
	// The reset can come so fast that the dial itself sees it.
	if c, err := net.Dial("tcp", hostPort("127.0.0.1", port)); err == nil {
		c.SetReadDeadline(time.Now().Add(watchdog))
		var ne net.Error
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("connection beyond the limit: read %v, want it closed", err)
		}
		c.Close()
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("connection beyond the limit: dial: %v, want success then a close, or a reset", err)
	}
	// Closing a socket frees its slot.
	if err := d.CloseSocket(ctxT(t), s); err != nil {
		t.Fatal(err)
	}
	c2, err := net.Dial("tcp", hostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if ev := r.accepted(t, 1); ev.listener != l {
		t.Errorf("accepted by %v", ev.listener)
	}
	r.mu.Lock()
	if n := len(r.accepts); n != 1 {
		t.Errorf("%d accepted sockets, want 1 (the refused one must not be announced)", n)
	}
	r.mu.Unlock()
	r.check(t)
}

// TestCloseDriver: Close closes every socket without Dropped, is
// idempotent, fails later calls with ErrNotOpen, and a reopened driver
// never reuses a socket id.
func TestCloseDriver(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, nil)
	echo := echoServer(t, "tcp", "127.0.0.1:0")
	seen := map[sdk.Socket]bool{}
	for range 2 {
		var socks []sdk.Socket
		for range 5 {
			s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: echo})
			if err != nil {
				t.Fatal(err)
			}
			if seen[s] || s == 0 {
				t.Errorf("socket id %v reused", s)
			}
			seen[s] = true
			socks = append(socks, s)
		}
		// A pair of this driver's own sockets, connected to each other:
		// closing one during Close must not look like a drop to the other.
		l, port := listenZero(t, d)
		seen[l] = true
		r.mu.Lock()
		n := len(r.accepts)
		r.mu.Unlock()
		c, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
		if err != nil {
			t.Fatal(err)
		}
		seen[c] = true
		seen[r.accepted(t, n+1).sock] = true
		if err := d.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := d.Close(ctxT(t)); err != nil {
			t.Errorf("second close: %v", err)
		}
		if err := d.Send(ctxT(t), socks[0], []byte("x")); !errors.Is(err, sdk.ErrNotOpen) {
			t.Errorf("send after close: %v, want ErrNotOpen", err)
		}
		if _, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: echo}); !errors.Is(err, sdk.ErrNotOpen) {
			t.Errorf("connect after close: %v, want ErrNotOpen", err)
		}
		if _, err := d.Open(ctxT(t), sdk.OpenRequest{Events: r}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Open(ctxT(t), sdk.OpenRequest{Events: r}); !errors.Is(err, sdk.ErrBusy) {
			t.Errorf("second open: %v, want ErrBusy", err)
		}
	}
	time.Sleep(100 * time.Millisecond) // negative check: no Dropped shows up
	r.mu.Lock()
	for s, st := range r.streams {
		if st.dropped != nil {
			t.Errorf("%v dropped (%v) by Close", s, st.dropped)
		}
	}
	r.mu.Unlock()
	r.check(t)
}

// TestCloseNeverBlocksForever: a host that never releases a blocked
// Received makes Close return with ErrTimeout at its ctx deadline; once the
// host lets go, the reader ends.
func TestCloseNeverBlocksForever(t *testing.T) {
	release := make(chan struct{})
	inside := make(chan struct{}, 1)
	r := newRecorder()
	r.onReceived = func(sdk.Socket, []byte) error {
		select {
		case inside <- struct{}{}:
		default:
		}
		<-release
		return sdk.ErrClosed
	}
	d := New()
	if _, err := d.Open(ctxT(t), sdk.OpenRequest{Events: r}); err != nil {
		t.Fatal(err)
	}
	echo := echoServer(t, "tcp", "127.0.0.1:0")
	s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: echo})
	if err != nil {
		t.Fatal(err)
	}
	d.Send(ctxT(t), s, []byte("x"))
	<-inside
	sess := d.sess
	ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
	defer cancel()
	if err := d.Close(ctx); !errors.Is(err, sdk.ErrTimeout) {
		t.Errorf("close with a reader held by the host: %v, want ErrTimeout", err)
	}
	close(release)
	done := make(chan struct{})
	go func() { sess.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(watchdog):
		t.Fatal("watchdog: the reader did not end once released")
	}
	if err := d.Close(ctxT(t)); err != nil {
		t.Errorf("close again: %v", err)
	}
}
