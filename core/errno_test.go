package core_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// TestErrnoThroughPlugins checks, through real plugin processes, that the
// errors Go code tests with syscall errnos match them (and the sentinels):
// a refused dial, a write after the peer reset, a port in use.
func TestErrnoThroughPlugins(t *testing.T) {
	h := newHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, name := range []string{"lo0", "eth0"} {
		i := iface(t, h, name)
		addr := "127.0.0.1:1"
		if name == "eth0" {
			addr = closedPort(t)
		}
		_, err := i.DialContext(ctx, "tcp", addr)
		if !errors.Is(err, syscall.ECONNREFUSED) || !errors.Is(err, sdk.ErrRefused) {
			t.Errorf("%s: refused dial %q: ECONNREFUSED %v, sdk.ErrRefused %v", name, err,
				errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, sdk.ErrRefused))
		}
		l, port := netListenFree(t, i)
		_ = l
		_, err = i.NetListen(ctx, port)
		if !errors.Is(err, syscall.EADDRINUSE) || !errors.Is(err, sdk.ErrAddressInUse) {
			t.Errorf("%s: second listen on %d %q: EADDRINUSE %v, sdk.ErrAddressInUse %v", name, port, err,
				errors.Is(err, syscall.EADDRINUSE), errors.Is(err, sdk.ErrAddressInUse))
		}
	}
	// A write after the peer reset: what Go's net gives on Linux is
	// ECONNRESET, then EPIPE.
	i := iface(t, h, "eth0")
	for _, e := range writeAfterPeerClosed(t, i, true, true) {
		if !errors.Is(e, syscall.ECONNRESET) && !errors.Is(e, syscall.EPIPE) {
			t.Errorf("write after reset %q matches neither ECONNRESET nor EPIPE", e)
		}
		var ne net.Error
		if !errors.As(e, &ne) {
			t.Errorf("write after reset %q is not a net.Error", e)
		}
	}
	_ = strconv.Itoa
}
