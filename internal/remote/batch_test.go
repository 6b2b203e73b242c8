package remote

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestBatchWriterFramesInOrder: frames queued from many goroutines arrive
// whole and, per goroutine, in order; data is written from the caller's
// slice and wait returns only once it is written.
func TestBatchWriterFramesInOrder(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	w := newBatchWriter(a, nil)
	const writers, frames = 8, 200
	type got struct {
		typ     frameType
		id      uint64
		payload []byte
	}
	recv := make(chan []got, 1)
	go func() {
		fr := newFrameReader(b)
		var all []got
		for len(all) < writers*frames {
			h, err := fr.next()
			if err != nil {
				t.Error(err)
				break
			}
			p, err := fr.payload(h, make([]byte, h.n))
			if err != nil {
				t.Error(err)
				break
			}
			all = append(all, got{h.typ, h.id, p})
		}
		recv <- all
	}()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for k := range frames {
				data := bytes.Repeat([]byte{byte(g)}, k%7*100)
				small := putU32(nil, uint32(k))
				seq := w.put(fData, uint64(g), small, data)
				if err := w.wait(seq); err != nil {
					t.Error(err)
					return
				}
				clear(data) // ours again: must not change what was written
			}
		})
	}
	wg.Wait()
	all := <-recv
	next := make([]uint32, writers)
	for _, f := range all {
		p := fields{b: f.payload}
		k := p.u32()
		if f.typ != fData || k != next[f.id] {
			t.Fatalf("frame %v of writer %d: number %d, want %d", f.typ, f.id, k, next[f.id])
		}
		next[f.id]++
		want := bytes.Repeat([]byte{byte(f.id)}, int(k)%7*100)
		if !bytes.Equal(p.b, want) {
			t.Fatalf("writer %d frame %d: payload altered (%d bytes, want %d)", f.id, k, len(p.b), len(want))
		}
	}
}

// TestBatchWriterFailureReleasesWaiters: once a write fails, waiting and
// later callers get the error instead of hanging.
func TestBatchWriterFailureReleasesWaiters(t *testing.T) {
	a, b := net.Pipe()
	b.Close()
	failed := make(chan error, 1)
	w := newBatchWriter(a, func(err error) { failed <- err })
	if err := w.wait(w.put(fData, 1, nil, []byte("x"))); err == nil {
		t.Fatal("wait after a failed write returned nil")
	}
	if err := <-failed; !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("onErr got %v, want the write's error", err)
	}
	if err := w.wait(w.put(fData, 1, nil, []byte("y"))); err == nil {
		t.Fatal("a later wait returned nil")
	}
}

// TestFrameReaderRejectsBadFrames: a frame too large or of an unknown type
// is a protocol violation, not a huge allocation or a panic.
func TestFrameReaderRejectsBadFrames(t *testing.T) {
	for name, raw := range map[string][]byte{
		"too large":    {0xff, 0xff, 0xff, 0xff, byte(fData), 0, 0, 0, 0, 0, 0, 0, 1},
		"unknown type": {0, 0, 0, 9, 200, 0, 0, 0, 0, 0, 0, 0, 1},
		"short length": {0, 0, 0, 1, byte(fData), 0, 0, 0, 0, 0, 0, 0, 1},
	} {
		_, err := newFrameReader(bytes.NewReader(raw)).next()
		if err == nil {
			t.Errorf("%s: next accepted % x", name, raw)
		}
	}
}

// FuzzFrameFields: decoding any payload never panics, and a short one is
// flagged.
func FuzzFrameFields(f *testing.F) {
	f.Add(putAddrPort(putU64(putStatus(nil, nil), 7), mustAddrPort("127.0.0.1:80")))
	f.Add([]byte{0, 5, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := fields{b: b}
		_ = p.status()
		_ = p.u64()
		_ = p.addrPort()
		_ = p.u8()
		_ = p.u16()
		_ = p.u32()
	})
}

// TestBatchWriterStallEndsSession: a write blocked longer than the stall
// bound (a peer process alive but not reading) closes the connection, so
// waiting callers get an error instead of hanging.
func TestBatchWriterStallEndsSession(t *testing.T) {
	a, b := net.Pipe() // b never reads: every write blocks
	defer b.Close()
	failed := make(chan error, 1)
	w := newBatchWriter(a, func(err error) { failed <- err }).watchStall(50*time.Millisecond, a)
	done := make(chan error, 1)
	go func() { done <- w.wait(w.put(fData, 1, nil, []byte("stuck"))) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a write to a peer that never reads returned nil")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write to a peer that never reads is still blocked after 5 s (stall bound 50 ms)")
	}
	if err := <-failed; err == nil {
		t.Error("onErr got nil")
	}
}
