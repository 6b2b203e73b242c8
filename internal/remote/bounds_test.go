package remote

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// refuser is an sdk.Events whose Received refuses (the core's socket was
// closed locally, CloseSocket not yet called).
type refuser struct{}

func (refuser) Accepted(sdk.Socket, sdk.Socket, netip.AddrPort) {}
func (refuser) Received(sdk.Socket, []byte) error               { return sdk.ErrClosed }
func (refuser) Finished(sdk.Socket)                             {}
func (refuser) Dropped(sdk.Socket, error)                       {}

// TestSharedCreditBackWhenReceivedRefused: data that arrives for a socket whose lane was
// stopped by a refused Received is never given back to the shared window.
func TestSharedCreditBackWhenReceivedRefused(t *testing.T) {
	d := NewDriver(nil, nil, Limits{}, nil)
	a, b := net.Pipe()
	defer b.Close()
	go io.Copy(io.Discard, b)
	d.state, d.events, d.conn, d.out = stateOpen, refuser{}, a, newBatchWriter(a, nil)
	d.mu.Lock()
	d.newSocketLocked(5)
	d.mu.Unlock()
	data := make([]byte, 100<<10)
	for i := 0; i < 3; i++ {
		inline, err := d.readFrame(newFrameReader(bytes.NewReader(frameBytes(t, fData, 5, data))))
		if err != nil {
			t.Fatal(err)
		}
		if inline != nil {
			inline()
		}
	}
	d.runners.Wait()
	// The host now closes the socket, as the core does right after.
	if err := d.CloseSocket(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	if q := d.connQueued.Load(); q != 0 {
		t.Errorf("connQueued = %d after the socket closed, want 0: %d cost units of the %d-unit shared window are gone for good", q, q, d.connWindow)
	}
}

// TestCloseWhileWaitingForSharedCredit: a Received waiting for shared credit whose socket
// the host closes stays in connWait with a closed wake channel; the next
// shared credit sends on it.
func TestCloseWhileWaitingForSharedCredit(t *testing.T) {
	s := newServer(nil, hclog.NewNullLogger())
	s.opened = true
	s.connWindow, s.connAvail = 1<<20, wire.FrameCost // starved
	s.out = newBatchWriter(io.Discard, nil)
	var wg sync.WaitGroup
	wg.Add(1)
	var rerr error
	go func() { defer wg.Done(); rerr = pluginEvents{s}.Received(5, []byte("hello")) }()
	for {
		s.mu.Lock()
		n := len(s.connWait)
		s.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.closeSocket(5) // the host's fClose (the inline close is not run: no driver)
	wg.Wait()
	t.Logf("Received returned %v", rerr)
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("the plugin panics on the next shared credit: %v", r)
		}
	}()
	_, err := s.readFrame(newFrameReader(bytes.NewReader(frameBytes(t, fCredit, 0, putU32(nil, 1000)))))
	if err != nil {
		t.Fatal(err)
	}
}

// blocker is an sdk.Events whose Received blocks until release.
type blocker struct{ release chan struct{} }

func (b blocker) Accepted(sdk.Socket, sdk.Socket, netip.AddrPort) {}
func (b blocker) Received(sdk.Socket, []byte) error               { <-b.release; return nil }
func (b blocker) Finished(sdk.Socket)                             {}
func (b blocker) Dropped(sdk.Socket, error)                       {}

// TestFinishedTwiceBreaksProtocol: a plugin repeating fFinished for a
// socket (whose handler is slow) would grow the host's lane without bound:
// the second one, and data after the first, break the protocol.
func TestFinishedTwiceBreaksProtocol(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after []byte
	}{
		{"finished twice", frameBytes(t, fFinished, 5, nil)},
		{"data after finished", frameBytes(t, fData, 5, []byte("y"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDriver(nil, nil, Limits{}, nil)
			a, b := net.Pipe()
			defer b.Close()
			go io.Copy(io.Discard, b)
			bl := blocker{release: make(chan struct{})}
			defer close(bl.release)
			d.state, d.events, d.conn, d.out = stateOpen, bl, a, newBatchWriter(a, nil)
			d.mu.Lock()
			d.newSocketLocked(5)
			d.mu.Unlock()
			var stream bytes.Buffer
			stream.Write(frameBytes(t, fData, 5, []byte("x")))
			stream.Write(frameBytes(t, fFinished, 5, nil))
			stream.Write(tc.after)
			fr := newFrameReader(&stream)
			for i := range 3 {
				inline, err := d.readFrame(fr)
				if i < 2 {
					if err != nil {
						t.Fatalf("frame %d refused: %v", i, err)
					}
					if inline != nil {
						go inline()
					}
					continue
				}
				if !errors.Is(err, sdk.ErrInternal) || !strings.Contains(err.Error(), "protocol violation") {
					t.Fatalf("%s: %v, want a protocol violation", tc.name, err)
				}
			}
		})
	}
}
