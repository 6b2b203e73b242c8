package core_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// echoNetListen serves an echo on a net.Listener of i: each connection
// copies what it reads back until the peer finished, then closes. done
// gets one value per connection when its copy ended, with its error.
func echoNetListen(t *testing.T, i *core.Interface) (port int, done <-chan error) {
	t.Helper()
	l, port := netListenFree(t, i)
	t.Cleanup(func() { l.Close() })
	ch := make(chan error, 64)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				_, err := io.Copy(c, c)
				c.Close()
				ch <- err
			}()
		}
	}()
	return port, ch
}

// TestEchoAfterPeerHalfClose: a plain TCP client sends 4 MiB to a Go echo
// server on eth0's NetListen, then half-closes and reads the answer: every
// byte comes back, then EOF (rule 11). The old data path lost up to a
// window of the tail: hostnet closed the socket at the client's FIN while
// data was still on its way to the application, so the echoes found it gone.
func TestEchoAfterPeerHalfClose(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "eth0", Driver: "hostnet"})
	port, _ := echoNetListen(t, iface(t, h, "eth0"))
	want := make([]byte, 4<<20)
	rand.Read(want)
	for round := range 3 {
		c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		var got []byte
		readDone := make(chan error, 1)
		go func() {
			var err error
			got, err = io.ReadAll(c)
			readDone <- err
		}()
		if _, err := c.Write(want); err != nil {
			t.Fatal(err)
		}
		if err := c.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if err := <-readDone; err != nil {
			t.Fatalf("round %d: reading the echo: %v (after %d of %d bytes)", round, err, len(got), len(want))
		}
		c.Close()
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: echo of %d bytes came back as %d bytes (equal prefix: %v)", round, len(want), len(got), bytes.HasPrefix(want, got))
		}
	}
}

// TestHalfCloseThroughConn: over each interface that can half-close, a
// core.Conn that CloseWrites reads the whole echo of what it sent, then
// io.EOF; the server side reads io.EOF after the data and can still write.
func TestHalfCloseThroughConn(t *testing.T) {
	for _, c := range ecosystemIfaces {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, core.IfaceConfig{Name: c.name, Driver: c.driver})
			i := iface(t, h, c.name)
			port, done := echoNetListen(t, i)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			nc, err := i.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			conn := nc.(*core.Conn)
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			want := make([]byte, 2<<20)
			rand.Read(want)
			var got []byte
			readDone := make(chan error, 1)
			go func() {
				var err error
				got, err = io.ReadAll(conn)
				readDone <- err
			}()
			if _, err := conn.Write(want); err != nil {
				t.Fatal(err)
			}
			if err := conn.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write([]byte("x")); !errors.Is(err, sdk.ErrClosed) {
				t.Errorf("Write after CloseWrite = %v, want an error matching sdk.ErrClosed", err)
			}
			if err := <-readDone; err != nil {
				t.Fatalf("reading the echo: %v (after %d of %d bytes)", err, len(got), len(want))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("echo of %d bytes came back as %d bytes", len(want), len(got))
			}
			if err := <-done; err != nil {
				t.Errorf("the server's copy ended with %v, want nil (io.EOF after the client's CloseWrite)", err)
			}
		})
	}
}

// TestSendReturnsWhenPeerGoes: clients send to a Go echo server on eth0's
// NetListen and go away without reading. Every server-side io.Copy ends
// (its Write fails or its Read ends), round after round. The old data path
// dropped the queued chunks of a socket the peer reset without answering
// the Send waiting for them, so the server's Write hung forever.
func TestSendReturnsWhenPeerGoes(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "eth0", Driver: "hostnet"})
	port, done := echoNetListen(t, iface(t, h, "eth0"))
	payload := make([]byte, 512<<10)
	for round := range 10 {
		const clients = 4
		for range clients {
			c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write(payload) // may fail once the server's echo meets our close
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
		for k := range clients {
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Fatalf("round %d: %d of %d server copies still blocked 15 s after their clients left", round, clients-k, clients)
			}
		}
	}
}

// TestSendsInFlightAtCrash: Sends blocked on a full window when the plugin
// is SIGKILLed all fail with an error matching sdk.ErrDriverExited, as
// every call in flight at a crash must; none says only "closed". (The old
// core replaced the driver's error by a closed-socket error whenever the
// socket's drop won the race, in most rounds.)
func TestSendsInFlightAtCrash(t *testing.T) {
	h := newHost(t, core.IfaceConfig{Name: "lo0", Driver: "loopback"})
	lo := iface(t, h, "lo0")
	release := make(chan struct{})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for round := range 4 {
		// A receiver that never returns: each socket's window fills and its
		// sender blocks.
		_, port := listenFree(t, lo, core.Handlers{Received: func(*core.Socket, []byte) { <-release }})
		const senders = 6 // two sockets each, in loopback's default limit of 16
		errs := make(chan error, senders)
		for range senders {
			s, err := lo.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			go func() { errs <- s.SendContext(ctx, make([]byte, 4<<20)) }()
		}
		time.Sleep(100 * time.Millisecond) // let the windows fill
		pid := lo.PID()
		if pid == 0 {
			t.Fatal("no plugin process id")
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for k := range senders {
			select {
			case err := <-errs:
				if !errors.Is(err, sdk.ErrDriverExited) {
					t.Errorf("round %d: send %d in flight at the crash returned %v, want an error matching sdk.ErrDriverExited", round, k, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: %d of %d sends still blocked 5 s after the crash", round, senders-k, senders)
			}
		}
		if err := lo.Start(ctx); err != nil {
			t.Fatalf("round %d: the driver did not come back: %v", round, err)
		}
	}
}

// TestCloseThenHostCloseDeliversAll: the bytes of Sends that returned reach
// the peer even when the socket and then the whole host are closed at once
// (what a CLI does as it exits). Closing the driver travels over gRPC while
// the socket's writes and close travel on the data path; the host lets the
// plugin run what it queued first.
func TestCloseThenHostCloseDeliversAll(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	const size = 8 << 20
	for round := range 6 {
		got := make(chan int64, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				got <- -1
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			// A slow reader: the kernel's buffers stay full, so the plugin
			// still has writes queued when the host closes.
			var n int64
			buf := make([]byte, 64<<10)
			for {
				k, err := c.Read(buf)
				n += int64(k)
				if err != nil {
					break
				}
				time.Sleep(time.Millisecond)
			}
			got <- n
		}()
		h := newHost(t, core.IfaceConfig{Name: "eth0", Driver: "hostnet"})
		s, err := iface(t, h, "eth0").Connect(context.Background(), "127.0.0.1", port, core.Handlers{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Send(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := h.Close(); err != nil {
			t.Fatal(err)
		}
		n := <-got
		if n != size {
			t.Fatalf("round %d: the peer got %d of the %d bytes sent before the socket and the host closed", round, n, size)
		}
	}
}
