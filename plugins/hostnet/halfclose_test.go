package hostnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// TestHalfCloseEchoLosesNothing is design rule 11 as a socat client sees
// it: the client sends 4 MiB, half-closes (FIN) and reads until EOF. The
// driver side echoes what it receives and closes the socket when the peer
// finished. Every byte must come back, then EOF: the peer's FIN must not
// close the socket under the replies still on their way.
//
// The echo runs inside Received (sync) and, as a host application's does,
// after Received returned, from a goroutine of its own (async): there the
// last replies are sent after the FIN arrived.
func TestHalfCloseEchoLosesNothing(t *testing.T) {
	for _, async := range []bool{false, true} {
		name := "sync"
		if async {
			name = "async"
		}
		t.Run(name, func(t *testing.T) { testHalfCloseEcho(t, async) })
	}
}

func testHalfCloseEcho(t *testing.T, async bool) {
	const total, chunk = 4 << 20, 64 << 10
	r := newRecorder()
	var d *Driver
	// queue carries the async echo's work: data to send, or nil for the
	// close after Finished.
	queue := make(chan []byte, 16)
	echoErrs := make(chan error, 2)
	if async {
		r.onReceived = func(_ sdk.Socket, data []byte) error { queue <- data; return nil }
		r.onFinished = func(sdk.Socket) { queue <- nil }
	} else {
		r.onReceived = func(s sdk.Socket, data []byte) error {
			if err := d.Send(context.Background(), s, data); err != nil {
				echoErrs <- err
			}
			return nil
		}
		r.onFinished = func(s sdk.Socket) {
			if err := d.CloseSocket(context.Background(), s); err != nil {
				echoErrs <- err
			}
		}
	}
	d, _ = open(t, r, nil)
	_, port := listenZero(t, d)
	c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := r.accepted(t, 1).sock
	var echo sync.WaitGroup
	if async {
		echo.Go(func() {
			for data := range queue {
				var err error
				if data == nil {
					err = d.CloseSocket(ctxT(t), s)
				} else {
					err = d.Send(ctxT(t), s, data)
				}
				if err != nil {
					echoErrs <- err
					return
				}
			}
		})
	}

	msg := make([]byte, total)
	rand.NewChaCha8([32]byte{11}).Read(msg)
	wrote := make(chan error, 1)
	go func() {
		for off := 0; off < total; off += chunk {
			if _, err := c.Write(msg[off : off+chunk]); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- c.(*net.TCPConn).CloseWrite()
	}()
	c.SetReadDeadline(time.Now().Add(watchdog))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Errorf("client read: %v after %d bytes, want all %d then EOF", err, len(got), total)
	}
	if werr := <-wrote; werr != nil {
		t.Errorf("client write: %v", werr)
	}
	if len(got) != total || !bytes.Equal(got, msg) {
		t.Errorf("client got %d bytes back, want %d byte-exact then EOF", len(got), total)
	}
	if rec := r.finished(t, s); len(rec) != total {
		t.Errorf("the driver received %d bytes before Finished, want %d", len(rec), total)
	}
	close(queue)
	echo.Wait()
	close(echoErrs)
	for err := range echoErrs {
		t.Errorf("echo: %v", err)
	}
	r.check(t)
}

// TestPeerFinishedSocketStaysWritable: after the peer's FIN the socket gets
// Finished (not Dropped) and stays writable until the host closes it; the
// close then ends the connection in order (the peer reads EOF).
func TestPeerFinishedSocketStaysWritable(t *testing.T) {
	r := newRecorder()
	d, info := open(t, r, nil)
	if !info.CanHalfClose {
		t.Errorf("Info.CanHalfClose = false, want true")
	}
	_, port := listenZero(t, d)
	c, err := net.Dial("tcp", hostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := r.accepted(t, 1).sock
	c.Write([]byte("request"))
	c.(*net.TCPConn).CloseWrite()
	if got := r.finished(t, s); string(got) != "request" {
		t.Errorf("data before Finished = %q, want %q", got, "request")
	}
	for _, part := range []string{"rep", "ly"} {
		if err := d.Send(ctxT(t), s, []byte(part)); err != nil {
			t.Fatalf("send after the peer finished: %v, want the socket writable", err)
		}
	}
	if _, err := d.Peer(ctxT(t), s); err != nil {
		t.Errorf("peer after the peer finished: %v", err)
	}
	if err := d.CloseSocket(ctxT(t), s); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(watchdog))
	if got, err := io.ReadAll(c); err != nil || string(got) != "reply" {
		t.Errorf("peer read %q, %v; want %q then EOF", got, err, "reply")
	}
	if err := d.Send(ctxT(t), s, []byte("x")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("send after close: %v, want ErrClosed", err)
	}
	r.check(t)
}

// TestCloseWrite: CloseWrite delivers the earlier Sends, then the peer
// reads EOF while it can still send to us; after it, Send and a second
// CloseWrite are ErrClosed, and the peer's own FIN is Finished. A listener
// cannot be half-closed, an unknown socket is ErrClosed.
func TestCloseWrite(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, nil)
	s, c := connectOut(t, d)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB: more than the kernel buffers
	type result struct {
		data []byte
		err  error
	}
	read := make(chan result, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(watchdog))
		got, err := io.ReadAll(c)
		read <- result{got, err}
	}()
	if err := d.Send(ctxT(t), s, big); err != nil {
		t.Fatal(err)
	}
	if err := d.CloseWrite(ctxT(t), s); err != nil {
		t.Fatalf("close write: %v", err)
	}
	if got := <-read; got.err != nil || !bytes.Equal(got.data, big) {
		t.Errorf("peer read %d bytes, %v; want %d then EOF", len(got.data), got.err, len(big))
	}
	if err := d.Send(ctxT(t), s, []byte("x")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("send after close write: %v, want ErrClosed", err)
	}
	if err := d.CloseWrite(ctxT(t), s); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("second close write: %v, want ErrClosed", err)
	}
	// The peer still sends to us, then finishes too.
	if _, err := c.Write([]byte("still talking")); err != nil {
		t.Fatalf("peer write after our close write: %v", err)
	}
	if got := r.data(t, s, len("still talking")); string(got) != "still talking" {
		t.Errorf("received %q", got)
	}
	c.CloseWrite()
	r.finished(t, s)
	// Both directions are finished: the socket keeps its slot until the
	// host closes it.
	if _, err := d.Peer(ctxT(t), s); err != nil {
		t.Errorf("peer of a socket finished both ways: %v, want it open until CloseSocket", err)
	}
	if err := d.CloseSocket(ctxT(t), s); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := d.CloseWrite(ctxT(t), s); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("close write after close: %v, want ErrClosed", err)
	}

	l, err := d.Listen(ctxT(t), sdk.ListenRequest{Port: 0})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CloseWrite(ctxT(t), l); !errors.Is(err, sdk.ErrBadArgument) {
		t.Errorf("close write on a listener: %v, want ErrBadArgument", err)
	}
	if err := d.CloseWrite(ctxT(t), 12345); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("close write on an unknown socket: %v, want ErrClosed", err)
	}
	r.check(t)
}

// TestCloseWriteWaitsForSends: CloseWrite takes its turn behind a Send
// blocked by a peer that does not read, honours its ctx while it waits, and
// comes after every byte of that Send.
func TestCloseWriteWaitsForSends(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	s, c := connectOut(t, d)
	big := make([]byte, 32<<20) // more than the kernel buffers hold
	sent := make(chan error, 1)
	go func() { sent <- d.Send(ctxT(t), s, big) }()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(ctxT(t), 100*time.Millisecond)
	defer cancel()
	if err := d.CloseWrite(ctx, s); !errors.Is(err, sdk.ErrTimeout) {
		t.Errorf("close write behind a blocked send, past its deadline: %v, want ErrTimeout", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- d.CloseWrite(ctxT(t), s) }()
	c.SetReadDeadline(time.Now().Add(watchdog))
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != int64(len(big)) {
		t.Errorf("peer read %d bytes, %v; want %d then EOF", n, err, len(big))
	}
	if err := <-sent; err != nil {
		t.Errorf("send: %v", err)
	}
	if err := <-closed; err != nil {
		t.Errorf("close write: %v", err)
	}
}

// TestFinishedThenReset: a peer that closed fully (FIN) answers our later
// writes with a reset: a Send fails with ErrReset and the socket is then
// Dropped(ErrReset), after its Finished.
func TestFinishedThenReset(t *testing.T) {
	r := newRecorder()
	d, _ := open(t, r, nil)
	s, c := connectOut(t, d)
	c.Close()
	r.finished(t, s)
	var serr error
	deadline := time.Now().Add(watchdog)
	for serr == nil && time.Now().Before(deadline) {
		serr = d.Send(ctxT(t), s, []byte("anyone there?"))
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(serr, sdk.ErrReset) {
		t.Fatalf("send to a peer that closed: %v, want ErrReset", serr)
	}
	if reason := r.dropped(t, s); !errors.Is(reason, sdk.ErrReset) {
		t.Errorf("drop reason %v, want ErrReset", reason)
	}
	if err := d.CloseSocket(ctxT(t), s); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("close after the drop: %v, want ErrClosed", err)
	}
	r.check(t)
}

// TestCloseWithFinishedSockets: Close ends the goroutines of sockets whose
// peer finished (they wait for the socket's close) without events.
func TestCloseWithFinishedSockets(t *testing.T) {
	r := newRecorder()
	d := New()
	if _, err := d.Open(ctxT(t), sdk.OpenRequest{Events: r}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range 3 {
		s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		defer c.Close()
		r.finished(t, s)
	}
	if err := d.Close(ctxT(t)); err != nil {
		t.Fatalf("close: %v", err)
	}
	r.mu.Lock()
	for s, st := range r.streams {
		if st.dropped != nil {
			t.Errorf("%v dropped (%v) by Close", s, st.dropped)
		}
	}
	r.mu.Unlock()
	r.check(t)
}
