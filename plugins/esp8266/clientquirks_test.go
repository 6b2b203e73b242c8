package esp8266

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdktest"
)

// Client-side quirks of real modules (issue 8, items 1-3): each through the
// driver in a real plugin process on the emulator's pseudo-terminal, with
// the emulator fault that reproduces it, and as a scripted modem where the
// exact bytes matter.

// launchOn opens the driver in a real plugin process (this test binary
// re-executed) on e's pseudo-terminal, opened with go.bug.st/serial.
func launchOn(t *testing.T, e *emulator.Emulator, settings sdk.Settings) (sdk.Driver, *recorder) {
	t.Helper()
	path := servePTY(t, e)
	d := sdktest.Launch(t, "esp8266")
	s := sdk.Settings{"port": path, "baud": strconv.Itoa(fastBaud), "timeout": "5s"}
	for k, v := range settings {
		s[k] = v
	}
	rec := newRecorder()
	ctx, cancel := ctxT()
	defer cancel()
	if _, err := d.Open(ctx, sdk.OpenRequest{Interface: "wl0", Settings: s, Events: rec, Logger: testLogger(t).Named("host")}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := ctxT()
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		rec.check(t)
	})
	return d, rec
}

// writeAndClose starts a TCP server on 127.0.0.1 that writes data to the
// first connection and closes it at once (an HTTP/1.0 server's reply).
func writeAndClose(t *testing.T, data []byte) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write(data)
		c.Close()
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().(*net.TCPAddr).Port
}

// sinkServer starts a TCP server on 127.0.0.1 that reads and discards what
// each connection sends.
func sinkServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// TestPluginPassiveCloseBeforeRead (item 1): in passive mode, with every
// AT+CIPRECVDATA answered short (fault short-read), peers that write a
// reply and close at once. On 1.x "<id>,CLOSED" comes while the data is
// still in the module (readable until CIPCLOSE): every byte must reach the
// application, then the one Dropped(ErrPeerClosed). Three links at once,
// one reply larger than the 1.7 module's 2920-byte buffer. 2.x withholds
// CLOSED, but its reads are short too.
func TestPluginPassiveCloseBeforeRead(t *testing.T) {
	sizes := []int{621, 2100, 4500}
	for _, fw := range firmwares {
		t.Run(string(fw), func(t *testing.T) {
			e := newEmulator(t, emulator.Config{Firmware: fw, Faults: []emulator.Fault{emulator.FaultShortRead}})
			d, rec := launchOn(t, e, sdk.Settings{"passive": "on"})
			ctx, cancel := ctxT()
			defer cancel()
			var socks []sdk.Socket
			var wants [][]byte
			for i, n := range sizes {
				want := randomBytes(n, uint64(100+i))
				s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: writeAndClose(t, want)})
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				socks, wants = append(socks, s), append(wants, want)
			}
			for i, s := range socks {
				wantIs(t, fmt.Sprintf("Dropped of the %d-byte reply", sizes[i]), rec.waitDropped(t, s), sdk.ErrPeerClosed)
				if got := rec.bytesOf(s); !bytes.Equal(got, wants[i]) {
					t.Errorf("%v: %d bytes arrived before Dropped, want the %d the peer sent", s, len(got), len(wants[i]))
				}
			}
			if e.Stats().Faults[emulator.FaultShortRead] == 0 {
				t.Error("no read was answered short: the test tested nothing")
			}
		})
	}
}

// TestPassiveClosedBeforeShortRead17 (item 1, the exact bytes): a 621-byte
// reply, its notice followed at once by CLOSED, the first read answered
// with 230 bytes: the driver reads the other 391 (the notice's total says
// they are there), then reports the close.
func TestPassiveClosedBeforeShortRead17(t *testing.T) {
	m := newModem(t, bringup17(true)...)
	d, rec, _ := scripted(t, m, nil)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	body := randomBytes(621, 621)
	m.expect(
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,230:" + string(body[:230]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,391:" + string(body[230:]) + "\r\nOK\r\n"},
		// Before the drop, the module confirms nothing is left.
		step{"AT+CIPRECVLEN?\r\n", "+CIPRECVLEN:0,0,0,0,0\r\n\r\nOK\r\n"},
	)
	m.emit("\r\n+IPD,0,621\r\n0,CLOSED\r\n")
	wantIs(t, "Dropped", rec.waitDropped(t, s), sdk.ErrPeerClosed)
	if got := rec.bytesOf(s); !bytes.Equal(got, body) {
		t.Errorf("%d bytes arrived before Dropped, want 621", len(got))
	}
	m.done()
}

// TestPassiveCloseCheck17: 1.x notices that count one segment each, not
// the buffered total (the reference is not sure which 1.7 prints): after
// CLOSED the driver reads what the notices told of, then AT+CIPRECVLEN?
// shows 300 bytes more, which it reads before the drop.
func TestPassiveCloseCheck17(t *testing.T) {
	m := newModem(t, bringup17(true)...)
	d, rec, _ := scripted(t, m, nil)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	body := randomBytes(621, 5)
	m.expect(
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,230:" + string(body[:230]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,91:" + string(body[230:321]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVLEN?\r\n", "+CIPRECVLEN:300,0,0,0,0\r\n\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,300:" + string(body[321:]) + "\r\nOK\r\n"},
	)
	m.emit("\r\n+IPD,0,300\r\n\r\n+IPD,0,321\r\n0,CLOSED\r\n")
	wantIs(t, "Dropped", rec.waitDropped(t, s), sdk.ErrPeerClosed)
	if got := rec.bytesOf(s); !bytes.Equal(got, body) {
		t.Errorf("%d bytes arrived before Dropped, want 621", len(got))
	}
	m.done()
}

// TestPassiveShortReadsRepeated17: short replies again and again, a notice
// whose running total grows while the driver reads, two links: the driver
// reads each link until the module's total is drained, and asks no more.
func TestPassiveShortReadsRepeated17(t *testing.T) {
	m := newModem(t, bringup17(true)...)
	d, rec, _ := scripted(t, m, nil)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s0, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	m.expect(step{"AT+CIPSTART=1,\"TCP\",\"10.0.0.3\",80\r\n", "1,CONNECT\r\n\r\nOK\r\n"})
	s1, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.3", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	a := randomBytes(100, 1)
	b := randomBytes(40, 2)
	// Link 0: 60 buffered, read 10; a notice of 80 (50 left + 30 new)
	// comes before the reply of the second read (20), so 60 are left:
	// read 25, then 35. Link 1 closes with 40 unread, read as 15 + 25.
	m.expect(
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,10:" + string(a[:10]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=1,2048\r\n", "\r\n+CIPRECVDATA,15:" + string(b[:15]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+IPD,0,80\r\n\r\n+CIPRECVDATA,20:" + string(a[10:30]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=1,2048\r\n", "\r\n+CIPRECVDATA,25:" + string(b[15:]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,25:" + string(a[30:55]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,35:" + string(a[55:90]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVLEN?\r\n", "+CIPRECVLEN:0,0,0,0,0\r\n\r\nOK\r\n"}, // link 1's close check
	)
	m.emit("\r\n+IPD,0,60\r\n\r\n+IPD,1,40\r\n1,CLOSED\r\n")
	wantIs(t, "Dropped of link 1", rec.waitDropped(t, s1), sdk.ErrPeerClosed)
	if got := rec.bytesOf(s1); !bytes.Equal(got, b) {
		t.Errorf("link 1: %d bytes before Dropped, want 40", len(got))
	}
	if got := rec.waitBytes(t, s0, 90); !bytes.Equal(got, a[:90]) {
		t.Errorf("link 0: %d bytes, want the 90 sent so far", len(got))
	}
	m.done()
	// The last 10 bytes and the close.
	m.expect(step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,10:" + string(a[90:]) + "\r\nOK\r\n"},
		step{"AT+CIPRECVLEN?\r\n", "+CIPRECVLEN:0,0,0,0,0\r\n\r\nOK\r\n"})
	m.emit("\r\n+IPD,0,10\r\n0,CLOSED\r\n")
	wantIs(t, "Dropped of link 0", rec.waitDropped(t, s0), sdk.ErrPeerClosed)
	if got := rec.bytesOf(s0); !bytes.Equal(got, a) {
		t.Errorf("link 0: %d bytes before Dropped, want 100", len(got))
	}
	m.done()
}

// TestPluginLateSendFail17 (item 2): every send answered
// "SEND OK\r\nSEND FAIL" (1.x, fault late-send-fail): the first verdict
// decides, so every Send succeeds, the socket stays up and the echo of
// every byte comes back.
func TestPluginLateSendFail17(t *testing.T) {
	e := newEmulator(t, emulator.Config{Firmware: emulator.Firmware17, Faults: []emulator.Fault{emulator.FaultLateSendFail}})
	d, rec := launchOn(t, e, nil)
	ctx, cancel := ctxT()
	defer cancel()
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: echoServer(t)})
	if err != nil {
		t.Fatal(err)
	}
	want := randomBytes(40*500, 3)
	for i := 0; i < len(want); i += 500 {
		if err := d.Send(ctx, s, want[i:i+500]); err != nil {
			t.Fatalf("Send %d: %v", i/500, err)
		}
	}
	if got := rec.waitBytes(t, s, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("echo: %d bytes, not the %d sent", len(got), len(want))
	}
	rec.mu.Lock()
	reason, dropped := rec.dropped[s]
	rec.mu.Unlock()
	if dropped {
		t.Fatalf("the socket was dropped: %v", reason)
	}
	if n := e.Stats().Faults[emulator.FaultLateSendFail]; n < 40 {
		t.Errorf("the late verdict came %d times, want 40", n)
	}
}

// TestLateSendVerdict17 (item 2, the exact bytes): SEND FAIL right after
// SEND OK for the same send, again and again, and a verdict with no send in
// flight: noise. Every Send succeeds and the socket stays.
func TestLateSendVerdict17(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, rec, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		msg := fmt.Sprintf("message %02d", i)
		m.expect(
			step{"AT+CIPSEND=0,10\r\n", "\r\nOK\r\n> "},
			step{msg, "\r\nRecv 10 bytes\r\n\r\nSEND OK\r\nSEND FAIL\r\n"},
		)
		if err := d.Send(ctx, s, []byte(msg)); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	m.emit("\r\nSEND FAIL\r\n")
	m.expect(step{"AT+CIPSEND=0,4\r\n", "\r\nOK\r\n> "}, step{"last", "\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n"})
	if err := d.Send(ctx, s, []byte("last")); err != nil {
		t.Fatalf("Send after a stray verdict: %v", err)
	}
	m.done()
	rec.mu.Lock()
	reason, dropped := rec.dropped[s]
	rec.mu.Unlock()
	if dropped {
		t.Fatalf("the socket was dropped: %v", reason)
	}
	// The other order: SEND FAIL first decides (the Send fails, the
	// socket is dropped and its link closed); the late SEND OK is noise.
	m.expect(
		step{"AT+CIPSEND=0,4\r\n", "\r\nOK\r\n> "},
		step{"lost", "\r\nRecv 4 bytes\r\n\r\nSEND FAIL\r\nSEND OK\r\n"},
		step{"AT+CIPCLOSE=0\r\n", "0,CLOSED\r\n\r\nOK\r\n"},
	)
	wantIs(t, "Send answered SEND FAIL, SEND OK", d.Send(ctx, s, []byte("lost")), sdk.ErrReset)
	wantIs(t, "Dropped after SEND FAIL", rec.waitDropped(t, s), sdk.ErrReset)
	m.done()
}

// TestPluginSendAnsweredByClose (item 3): a CIPSEND answered by a close
// instead of a prompt, in both orders ("<id>,CLOSED" then ERROR, fault
// closed-before-prompt; ERROR then "<id>,CLOSED", fault
// error-before-closed), in both dialects: the Send fails with
// ErrPeerClosed saying the peer closed the link and nothing was sent, and
// the socket gets its one Dropped(ErrPeerClosed).
func TestPluginSendAnsweredByClose(t *testing.T) {
	for _, fw := range firmwares {
		for _, f := range []emulator.Fault{emulator.FaultClosedBeforePrompt, emulator.FaultErrorBeforeClosed} {
			t.Run(fmt.Sprintf("%s/%s", fw, f), func(t *testing.T) {
				e := newEmulator(t, emulator.Config{Firmware: fw, Faults: []emulator.Fault{f}, FaultRate: 1})
				d, rec := launchOn(t, e, nil)
				ctx, cancel := ctxT()
				defer cancel()
				s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: sinkServer(t)})
				if err != nil {
					t.Fatal(err)
				}
				err = d.Send(ctx, s, []byte("hello"))
				wantIs(t, "Send answered by a close", err, sdk.ErrPeerClosed)
				if err != nil && (!strings.Contains(err.Error(), "peer closed") || !strings.Contains(err.Error(), "none of")) {
					t.Errorf("Send: %q does not say that the peer closed the link and nothing was sent", err)
				}
				wantIs(t, "Dropped", rec.waitDropped(t, s), sdk.ErrPeerClosed)
				if err := d.Send(ctx, s, []byte("again")); err == nil {
					t.Error("a Send after the drop succeeded")
				}
			})
		}
	}
}

// TestSendAnsweredByClose (item 3, the exact bytes): CIPSEND answered by
// "<id>,CLOSED" + "link is not valid" + ERROR (1.x) or "<id>,CLOSED" +
// ERROR (2.x), and by the same in the other order.
func TestSendAnsweredByClose(t *testing.T) {
	cases := []struct {
		name  string
		v1    bool
		reply string
	}{
		{"1.7/closed-first", true, "0,CLOSED\r\nlink is not valid\r\n\r\nERROR\r\n"},
		{"1.7/error-first", true, "link is not valid\r\n\r\nERROR\r\n0,CLOSED\r\n"},
		{"2.2/closed-first", false, "0,CLOSED\r\n\r\nERROR\r\n"},
		{"2.2/error-first", false, "\r\nERROR\r\n0,CLOSED\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			steps := bringup22(false)
			if c.v1 {
				steps = bringup17(false)
			}
			m := newModem(t, steps...)
			d, rec, _ := scripted(t, m, active)
			ctx, cancel := ctxT()
			defer cancel()
			m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
			s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
			if err != nil {
				t.Fatal(err)
			}
			m.expect(step{"AT+CIPSEND=0,5\r\n", c.reply})
			err = d.Send(ctx, s, []byte("hello"))
			wantIs(t, "Send", err, sdk.ErrPeerClosed)
			if err != nil && (!strings.Contains(err.Error(), "peer closed") || !strings.Contains(err.Error(), "none of")) {
				t.Errorf("Send: %q does not say that the peer closed the link and nothing was sent", err)
			}
			wantIs(t, "Dropped", rec.waitDropped(t, s), sdk.ErrPeerClosed)
			m.done()
			// The link is usable again (the stray CLOSED, if still to
			// come, is taken for the old link's).
			m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
			if _, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80}); err != nil {
				t.Fatalf("Connect after: %v", err)
			}
			m.done()
			m.expect(step{"AT+CIPCLOSE=5\r\n", "0,CLOSED\r\n\r\nOK\r\n"}) // at Close
		})
	}
}
