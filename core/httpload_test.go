package core_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// TestLoopbackServesConcurrentClients runs an http.Server on lo0 with its
// default settings and 20 concurrent GETs, each on a connection of its own:
// the loopback must hold them all (41 sockets with the listener).
func TestLoopbackServesConcurrentClients(t *testing.T) {
	h := newHost(t)
	i := iface(t, h, "lo0")
	l, port := netListenFree(t, i)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // keep the connections open together
		fmt.Fprint(w, "ok")
	})}
	go srv.Serve(l)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: i.DialContext, DisableKeepAlives: true}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+net.JoinHostPort("127.0.0.1", itoa(port))+"/", nil)
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if string(b) != "ok" {
				errs <- fmt.Errorf("body %q", b)
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d of 20 GETs failed", n)
	}

	// The limit still says which setting raises it.
	h2 := newHost(t, coreIface("lo9", "loopback", "max_sockets", "2"))
	i2 := iface(t, h2, "lo9")
	l2, port2 := netListenFree(t, i2)
	_ = l2
	_, err := i2.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", itoa(port2)))
	if err == nil || !strings.Contains(err.Error(), "max_sockets") || !isNoSockets(err) {
		t.Errorf("dial beyond the limit: %v, want ErrNoSockets naming max_sockets", err)
	}
}

func isNoSockets(err error) bool { return sdkIs(err, sdk.ErrNoSockets) }
