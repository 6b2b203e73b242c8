package hostnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

func TestConnectBadArguments(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	for _, req := range []sdk.ConnectRequest{
		{Host: "", Port: 80}, {Host: "127.0.0.1", Port: 0}, {Host: "127.0.0.1", Port: 65536}, {Host: "127.0.0.1", Port: -1},
	} {
		if _, err := d.Connect(ctxT(t), req); !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("connect %+v: %v, want ErrBadArgument", req, err)
		}
	}
	for _, port := range []int{-1, 65536} {
		if _, err := d.Listen(ctxT(t), sdk.ListenRequest{Port: port}); !errors.Is(err, sdk.ErrBadArgument) {
			t.Errorf("listen %d: %v, want ErrBadArgument", port, err)
		}
	}
}

func TestConnectRefused(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	port := closedPort(t)
	_, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "127.0.0.1", Port: port})
	if !errors.Is(err, sdk.ErrRefused) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("connect to a closed port: %v, want ErrRefused wrapping ECONNREFUSED", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(port)) || !strings.HasPrefix(err.Error(), "connect") {
		t.Errorf("message %q should start lower case and name the address", err)
	}
	// The slot taken by the failed connect was given back.
	d.sess.mu.Lock()
	n := d.sess.used
	d.sess.mu.Unlock()
	if n != 0 {
		t.Errorf("%d sockets in use after a failed connect, want 0", n)
	}
}

func TestConnectNameNotResolved(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	for _, host := range []string{"no-such-host.invalid", "NO-SUCH.INVALID."} {
		start := time.Now()
		_, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: host, Port: 80})
		if !errors.Is(err, sdk.ErrNameNotResolved) {
			t.Errorf("connect %s: %v, want ErrNameNotResolved", host, err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("connect %s took %v: a .invalid name must fail locally", host, el)
		}
	}
}

// TestConnectResolvesHostNames goes through the host resolver with a name
// that resolves locally (/etc/hosts) to reach a test listener.
func TestConnectResolvesHostNames(t *testing.T) {
	addrs, err := net.DefaultResolver.LookupNetIP(ctxT(t), "ip4", "localhost")
	if err != nil || len(addrs) == 0 || !addrs[0].IsLoopback() {
		t.Skipf("localhost does not resolve to an IPv4 loopback address here: %v %v", addrs, err)
	}
	r := newRecorder()
	d, _ := open(t, r, nil)
	port := echoServer(t, "tcp", "127.0.0.1:0")
	s, err := d.Connect(ctxT(t), sdk.ConnectRequest{Host: "localhost", Port: port})
	if err != nil {
		t.Fatalf("connect localhost: %v", err)
	}
	if p, _ := d.Peer(ctxT(t), s); p != netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)) {
		t.Errorf("peer = %v", p)
	}
}

// blackhole returns a port of a listener with a full accept queue: the
// kernel drops further SYNs, so a connect to it hangs until its timeout.
func blackhole(t *testing.T) int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	for range 8 {
		c, err := net.DialTimeout("tcp", hostPort("127.0.0.1", port), 300*time.Millisecond)
		if err != nil {
			return port // this one hung: the queue is full
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listen queue on this host")
	return 0
}

func TestConnectTimeoutAndCancel(t *testing.T) {
	port := blackhole(t)
	req := sdk.ConnectRequest{Host: "127.0.0.1", Port: port}

	// The connect_timeout setting.
	d, _ := open(t, newRecorder(), sdk.Settings{"connect_timeout": "200ms"})
	if _, err := d.Connect(ctxT(t), req); !errors.Is(err, sdk.ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("connect past connect_timeout: %v, want ErrTimeout", err)
	}

	// The ctx deadline.
	d2, _ := open(t, newRecorder(), nil)
	ctx, cancel := context.WithTimeout(ctxT(t), 200*time.Millisecond)
	defer cancel()
	if _, err := d2.Connect(ctx, req); !errors.Is(err, sdk.ErrTimeout) {
		t.Errorf("connect past the ctx deadline: %v, want ErrTimeout", err)
	}

	// A ctx canceled during the dial, and one canceled before it.
	ctx, cancel = context.WithCancel(ctxT(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := d2.Connect(ctx, req); !errors.Is(err, sdk.ErrCanceled) || !errors.Is(err, context.Canceled) {
		t.Errorf("connect with a canceled ctx: %v, want ErrCanceled", err)
	}
	if _, err := d2.Connect(ctx, req); !errors.Is(err, sdk.ErrCanceled) {
		t.Errorf("connect with a ctx canceled before: %v, want ErrCanceled", err)
	}

	// Close ends a pending dial.
	done := make(chan error, 1)
	go func() { _, err := d2.Connect(ctxT(t), req); done <- err }()
	time.Sleep(100 * time.Millisecond)
	if err := d2.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrNotOpen) {
			t.Errorf("connect pending during Close: %v, want ErrNotOpen", err)
		}
	case <-time.After(watchdog):
		t.Fatal("watchdog: Close did not end a pending connect")
	}
}

func TestListenAddressInUse(t *testing.T) {
	d, _ := open(t, newRecorder(), nil)
	_, port := listenZero(t, d)
	_, err := d.Listen(ctxT(t), sdk.ListenRequest{Port: port})
	if !errors.Is(err, sdk.ErrAddressInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("second listen on %d: %v, want ErrAddressInUse", port, err)
	}
	d2, _ := open(t, newRecorder(), sdk.Settings{"bind": "192.0.2.1"}) // TEST-NET-1: not ours
	if _, err := d2.Listen(ctxT(t), sdk.ListenRequest{Port: port}); !errors.Is(err, sdk.ErrBadArgument) {
		t.Errorf("listen on an address not of this host: %v, want ErrBadArgument", err)
	}
}

// TestErrorMapping checks the mapping of OS errors that cannot be produced
// on loopback alone (no route, DNS answers).
func TestErrorMapping(t *testing.T) {
	op := func(errno error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}
	}
	bg := context.Background()
	canceled, cancel := context.WithCancel(bg)
	cancel()
	for _, c := range []struct {
		ctx  context.Context
		err  error
		want error
	}{
		{bg, op(syscall.ECONNREFUSED), sdk.ErrRefused},
		{bg, op(syscall.EHOSTUNREACH), sdk.ErrUnreachable},
		{bg, op(syscall.ENETUNREACH), sdk.ErrUnreachable},
		{bg, op(syscall.EADDRINUSE), sdk.ErrAddressInUse},
		{bg, op(syscall.ETIMEDOUT), sdk.ErrTimeout},
		{bg, op(syscall.EMFILE), sdk.ErrNoSockets},
		{bg, op(syscall.ECONNRESET), sdk.ErrReset},
		{bg, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "x.example", IsNotFound: true}}, sdk.ErrNameNotResolved},
		{bg, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "server misbehaving", Name: "x.example", IsTemporary: true}}, sdk.ErrNameNotResolved},
		{bg, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "i/o timeout", Name: "x.example", IsTimeout: true}}, sdk.ErrTimeout},
		{bg, &net.OpError{Op: "dial", Err: context.DeadlineExceeded}, sdk.ErrTimeout},
		{canceled, &net.OpError{Op: "dial", Err: &net.DNSError{Err: "operation was canceled", Name: "x.example"}}, sdk.ErrCanceled},
		{bg, errors.New("something else"), sdk.ErrInternal},
	} {
		got := mapConnectError(c.ctx, "x.example:80", c.err)
		if !errors.Is(got, c.want) || !errors.Is(got, c.err) {
			t.Errorf("map %v: %v (code %s), want %v wrapping the cause", c.err, got, sdk.CodeOf(got), c.want)
		}
	}
	for _, c := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("read: %w", io.EOF), sdk.ErrPeerClosed},
		{op(syscall.ECONNRESET), sdk.ErrReset},
		{op(syscall.EPIPE), sdk.ErrReset},
		{op(syscall.ETIMEDOUT), sdk.ErrTimeout},
		{op(syscall.EHOSTUNREACH), sdk.ErrUnreachable},
	} {
		if got := dropReason(c.err, "receive"); !errors.Is(got, c.want) {
			t.Errorf("drop reason of %v: %v, want %v", c.err, got, c.want)
		}
	}
}
