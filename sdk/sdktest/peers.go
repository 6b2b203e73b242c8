package sdktest

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// echoHandler sends back what a socket received, from inside Received
// (rule 5: Send is safe from inside callbacks).
func (e *env) echoHandler(c *conn, data []byte) {
	ctx, cancel := e.call()
	defer cancel()
	if err := e.d.Send(ctx, c.id, data); err != nil && e.ctx.Err() == nil && !gone(err) {
		e.x.report("echo: Send(%v, %d bytes) from inside Received: %v", c, len(data), err)
	}
}

// echo returns a client socket whose peer echoes every byte back: the
// driver's own listener when it can connect to itself, else the harness's
// echo server.
func (e *env) echo() *conn {
	e.t.Helper()
	c, err := e.echoErr()
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// echoErr is echo returning the error of Connect.
func (e *env) echoErr() (*conn, error) {
	e.t.Helper()
	h := e.x.s.h
	// A driver with one listener that already serves pair cannot have an
	// echo listener too: then the harness's echo server is the peer, or
	// without one a connection to pair's listener that echoes.
	oneListenerTaken := e.info.MaxListeners == 1 && e.pairL != nil && e.echoL == nil
	switch {
	case e.canSelf() && oneListenerTaken && h.EchoServer == nil:
		// The one listener serves pair: an echo is a connection to it
		// whose accepted end echoes.
		c, err := e.connect(h.SelfHost, e.portOf(e.pairL), nil)
		if err != nil {
			return nil, fmt.Errorf("connect to the listener: %w", err)
		}
		e.setHandler(e.accept(e.pairL), e.echoHandler)
		return c, nil
	case e.canSelf() && !oneListenerTaken:
		if e.echoL == nil {
			e.echoL = e.listen(e.echoHandler)
		}
		c, err := e.connect(h.SelfHost, e.portOf(e.echoL), nil)
		if err != nil {
			return nil, fmt.Errorf("connect to the echo listener: %w", err)
		}
		return c, nil
	case h.EchoServer != nil:
		host, port := h.EchoServer(e.t)
		c, err := e.connect(host, port, nil)
		if err != nil {
			return nil, fmt.Errorf("connect to the echo server %s:%d: %w", host, port, err)
		}
		return c, nil
	}
	e.t.Skip("needs an echo peer: Harness.SelfHost with a driver that listens, or Harness.EchoServer")
	return nil, nil
}

// pair returns both ends of a connection from the driver to itself: the
// client c and the accepted a, whose Received runs h.
func (e *env) pair(h handler) (c, a *conn) {
	e.t.Helper()
	e.needSelf()
	if e.pairL == nil {
		e.pairL = e.listen(nil)
	}
	c = e.mustConnect(e.x.s.h.SelfHost, e.portOf(e.pairL), nil)
	a = e.accept(e.pairL)
	e.setHandler(a, h)
	return c, a
}

// roundTrip sends msg on c, whose peer echoes, and waits for it back.
func (e *env) roundTrip(c *conn, msg []byte) {
	e.t.Helper()
	n := e.state(c).n
	e.mustSend(c, msg)
	got := e.awaitBytes(c, n+len(msg))
	compare(e.t, fmt.Sprintf("round trip of %d bytes on %v", len(msg), c), got[n:], msg)
}

// exchange is a handler that plays a counting game over 8-byte values:
// on each value v it receives it sends v+1, from inside Received, until v
// reaches last; then it closes done.
type exchange struct {
	e    *env
	last uint64
	buf  []byte
	once sync.Once
	done chan struct{}
}

func (x *exchange) handle(c *conn, data []byte) {
	x.buf = append(x.buf, data...)
	for len(x.buf) >= 8 {
		v := binary.LittleEndian.Uint64(x.buf)
		x.buf = x.buf[8:]
		if v >= x.last {
			x.once.Do(func() { close(x.done) })
			return
		}
		v++
		if err := x.e.send(c, binary.LittleEndian.AppendUint64(nil, v)); err != nil && x.e.ctx.Err() == nil {
			x.e.x.report("exchange: Send(%v) from inside Received: %v", c, err)
		}
	}
}
