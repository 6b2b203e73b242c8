package core_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
	"github.com/ifsock/ifsock/sdk"
)

// TestSendAfterCloseWriteIsPrompt: a Send after the socket's own
// CloseWrite fails at once; it must not wait dropWait for a drop that
// never comes.
func TestSendAfterCloseWriteIsPrompt(t *testing.T) {
	h := newHost(t)
	for _, name := range []string{"lo0", "eth0"} {
		t.Run(name, func(t *testing.T) {
			i := iface(t, h, name)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			l, port := netListenFree(t, i)
			accepted := make(chan net.Conn, 1)
			go func() { c, _ := l.Accept(); accepted <- c }()
			s, err := i.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := <-accepted
			defer p.Close()
			if err := s.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = s.Send([]byte("x"))
			if took := time.Since(start); took > 200*time.Millisecond {
				t.Errorf("Send after CloseWrite took %v to fail (%v)", took, err)
			}
			if err == nil {
				t.Error("Send after CloseWrite succeeded")
			}
			if !errors.Is(err, syscall.EPIPE) || !errors.Is(err, sdk.ErrClosed) {
				t.Errorf("Send after CloseWrite: %v, want EPIPE and sdk.ErrClosed", err)
			}
		})
	}
}
