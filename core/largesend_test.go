package core_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"hash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ifsock/ifsock/core"
)

// TestLargeSendsThroughPlugin: Sends far larger than the transport's send
// window (1 MiB), one after another, arrive whole through real plugin
// processes. (A review found that progress the plugin had not reported
// when its write queue ran dry was lost, so the window shrank until a large
// Send hung.)
func TestLargeSendsThroughPlugin(t *testing.T) {
	for _, c := range ecosystemIfaces {
		t.Run(c.name, func(t *testing.T) {
			h := newHost(t, core.IfaceConfig{Name: c.name, Driver: c.driver})
			i := iface(t, h, c.name)
			var (
				mu  sync.Mutex
				sum hash.Hash = sha256.New()
				got atomic.Int64
			)
			_, port := listenFree(t, i, core.Handlers{Received: func(s *core.Socket, d []byte) {
				mu.Lock()
				sum.Write(d)
				mu.Unlock()
				got.Add(int64(len(d)))
				if rand.IntN(8) == 0 {
					time.Sleep(time.Millisecond) // a handler that is sometimes slow
				}
			}})
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			s, err := i.Connect(ctx, "127.0.0.1", port, core.Handlers{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.New()
			const sends, size = 5, 16 << 20
			buf := make([]byte, size)
			for k := range sends {
				for j := range buf {
					buf[j] = byte(j*7 + k)
				}
				want.Write(buf)
				sctx, scancel := context.WithTimeout(ctx, 60*time.Second)
				err := s.SendContext(sctx, buf)
				scancel()
				if err != nil {
					t.Fatalf("send %d of %d MiB: %v", k+1, size>>20, err)
				}
			}
			for got.Load() < sends*size {
				select {
				case <-ctx.Done():
					t.Fatalf("received %d of %d bytes", got.Load(), sends*size)
				case <-time.After(10 * time.Millisecond):
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if !bytes.Equal(sum.Sum(nil), want.Sum(nil)) {
				t.Fatal("the data arrived altered")
			}
		})
	}
}
