package sdktest

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync/atomic"

	"github.com/ifsock/ifsock/sdk"
)

// keepLimit is how many received bytes a socket keeps for comparison; past
// it only the count goes on.
const keepLimit = 16 << 20

// handler is what the suite runs inside Received for a socket, on the
// driver's goroutine.
type handler func(c *conn, data []byte)

// finishedHandler is what the suite runs inside Finished for a socket, on
// the driver's goroutine.
type finishedHandler func(c *conn)

// connKind says how a socket became known to the suite.
type connKind int

const (
	kindUnknown connKind = iota
	kindClient
	kindListener
	kindAccepted
)

func (k connKind) String() string {
	return [...]string{"unannounced", "client", "listening", "accepted"}[k]
}

// conn is the suite's record of one socket of the driver. Its fields below
// inflight are guarded by recorder.mu.
type conn struct {
	id       sdk.Socket
	rec      *recorder
	claimed  chan struct{} // closed when Connect, Listen or Accepted announced it
	inflight atomic.Int32  // events of the socket running now

	kind          connKind
	seen          int             // events raised for it, of any kind
	handler       handler         // run inside Received
	onFinished    finishedHandler // run inside Finished
	listener      *conn           // the listener named by Accepted
	accepted      netip.AddrPort  // the peer given by Accepted
	port          int             // a listener's port
	queue         []*conn         // a listener's accepted sockets not yet taken by the subtest
	chunks        [][]byte        // received data, as delivered
	n             int             // received bytes
	events        int             // Received calls
	empty         int             // Received calls with no data
	truncated     bool            // more than keepLimit bytes arrived: chunks is incomplete
	finished      bool            // the peer finished sending (Finished)
	dropped       bool
	reason        error
	wroteEnd      bool // CloseWrite returned nil: this side finished sending
	closeCalled   bool // CloseSocket was called by the suite
	closeReturned bool // ... and returned
	changed       chan struct{}
}

func (c *conn) leave() { c.inflight.Add(-1) }

// notify wakes whoever waits for c to change; recorder.mu must be held.
func (c *conn) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// data returns what c received so far, as one slice; recorder.mu must be held.
func (c *conn) data() []byte {
	return bytes.Join(c.chunks, nil)
}

// describe sums up c for a failure message; recorder.mu must be held.
func (c *conn) describe() string {
	s := fmt.Sprintf("%v (%s): received %d bytes in %d events", c.id, c.kind, c.n, c.events)
	if c.finished {
		s += ", the peer finished"
	}
	if c.dropped {
		s += fmt.Sprintf(", dropped: %v", c.reason)
	}
	if c.wroteEnd {
		s += ", half-closed locally"
	}
	if c.closeCalled {
		s += ", closed locally"
	}
	return s
}

func (c *conn) String() string { return c.id.String() }
