package remote

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// dropRecorder is an sdk.Events that records drops.
type dropRecorder struct {
	mu      sync.Mutex
	dropped map[sdk.Socket]error
}

func (r *dropRecorder) Accepted(sdk.Socket, sdk.Socket, netip.AddrPort) {}
func (r *dropRecorder) Received(sdk.Socket, []byte) error               { return nil }
func (r *dropRecorder) Finished(sdk.Socket)                             {}
func (r *dropRecorder) Dropped(s sdk.Socket, reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped[s] = reason
}

// frameBytes is one frame as a plugin would send it.
func frameBytes(t *testing.T, typ frameType, id uint64, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := newBatchWriter(&buf, nil)
	if err := w.wait(w.put(typ, id, payload, nil)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestShortFrameChangesNothing: a plugin's truncated frame is a protocol
// violation that ends the session before it changes any socket, so the
// socket still gets its one Dropped(ErrDriverExited) when the session dies.
// (A short drop used to end the socket and claim its lane, then fail: the
// socket never got a drop at all.)
func TestShortFrameChangesNothing(t *testing.T) {
	for name, f := range map[string][]byte{
		"dropped":  putStr(nil, string(sdk.CodeReset)), // the message is missing
		"accepted": putU64(nil, 1)[:5],
	} {
		t.Run(name, func(t *testing.T) {
			rec := &dropRecorder{dropped: map[sdk.Socket]error{}}
			d := NewDriver(nil, nil, Limits{}, nil)
			a, b := net.Pipe()
			defer b.Close()
			d.state, d.events, d.conn, d.out = stateOpen, rec, a, newBatchWriter(a, nil)
			d.mu.Lock()
			d.newSocketLocked(5)
			d.mu.Unlock()
			typ := fDropped
			if name == "accepted" {
				typ = fAccepted
			}
			_, err := d.readFrame(newFrameReader(bytes.NewReader(frameBytes(t, typ, 5, f))))
			if err == nil {
				t.Fatal("a short frame was accepted")
			}
			d.die(err)
			deadline := time.Now().Add(5 * time.Second)
			for {
				rec.mu.Lock()
				reason, ok := rec.dropped[5]
				rec.mu.Unlock()
				if ok {
					if !errors.Is(reason, sdk.ErrDriverExited) {
						t.Errorf("socket 5 dropped with %v, want ErrDriverExited", reason)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatal("socket 5 never got its drop after the session died on a short frame")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
