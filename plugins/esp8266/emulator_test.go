package esp8266

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
	"github.com/ifsock/ifsock/sdk"
)

// Tests of the driver against the AT-firmware emulator: both dialects, over
// an in-memory pipe and over the emulator's pseudo-terminal opened with
// go.bug.st/serial, with links bridged to real TCP sockets on 127.0.0.1.

var firmwares = []emulator.Firmware{emulator.Firmware17, emulator.Firmware22}

// fastBaud is the UART rate of most emulator tests: the emulator paces its
// output to baud/10 bytes per second.
const fastBaud = 4000000

func newEmulator(t testing.TB, cfg emulator.Config) *emulator.Emulator {
	t.Helper()
	cfg.Joined = true
	if cfg.Baud == 0 {
		cfg.Baud = fastBaud
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t).Named("emulator")
	}
	e, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// servePTY runs e on a pseudo-terminal and returns its slave path.
func servePTY(t testing.TB, e *emulator.Emulator) string {
	t.Helper()
	path, stop, err := e.ServePTY(context.Background())
	if err != nil {
		t.Fatalf("ServePTY: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Logf("emulator stop: %v", err)
		}
	})
	return path
}

// servePipe runs e over net.Pipe and returns the driver's end.
func servePipe(t testing.TB, e *emulator.Emulator) net.Conn {
	t.Helper()
	drv, ser := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Serve(ctx, ser) }()
	t.Cleanup(func() {
		cancel()
		ser.Close()
		<-done
	})
	return drv
}

// openOn opens a driver; port is a net.Conn (pipe) or a pty path.
func openOn(t testing.TB, port any, settings sdk.Settings, ev sdk.Events) *Driver {
	t.Helper()
	settings = settings.Clone()
	var d *Driver
	switch p := port.(type) {
	case string:
		d = New()
		settings["port"] = p
		if settings["baud"] == "" {
			settings["baud"] = strconv.Itoa(fastBaud)
		}
	case io.ReadWriteCloser:
		d = NewOnPort(p)
	}
	ctx, cancel := ctxT()
	defer cancel()
	if _, err := d.Open(ctx, sdk.OpenRequest{Interface: "wl0", Settings: settings, Events: ev, Logger: testLogger(t).Named("driver")}); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := ctxT()
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// echoServer starts a TCP echo server on 127.0.0.1 and returns its port.
func echoServer(t testing.TB) int {
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
				io.Copy(c, c)
				c.Close()
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

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 8266))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func TestEmulatorEcho(t *testing.T) {
	for _, fw := range firmwares {
		for _, over := range []string{"pipe", "pty"} {
			for _, passive := range []string{"auto", "off"} {
				t.Run(fmt.Sprintf("%s/%s/passive=%s", fw, over, passive), func(t *testing.T) {
					e := newEmulator(t, emulator.Config{Firmware: fw})
					var port any
					if over == "pipe" {
						port = servePipe(t, e)
					} else {
						port = servePTY(t, e)
					}
					rec := newRecorder()
					d := openOn(t, port, sdk.Settings{"passive": passive}, rec)
					echo := echoServer(t)
					ctx, cancel := ctxT()
					defer cancel()
					s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: echo})
					if err != nil {
						t.Fatal(err)
					}
					want := randomBytes(20000, 1)
					if err := d.Send(ctx, s, want); err != nil {
						t.Fatalf("Send: %v", err)
					}
					if got := rec.waitBytes(t, s, len(want)); !bytes.Equal(got, want) {
						t.Fatalf("echo differs: got %d bytes", len(got))
					}
					if err := d.CloseSocket(ctx, s); err != nil {
						t.Fatal(err)
					}
					// A name the module resolves, and one it cannot.
					s, err = d.Connect(ctx, sdk.ConnectRequest{Host: "localhost", Port: echo})
					if err != nil {
						t.Fatalf("Connect(localhost): %v", err)
					}
					d.CloseSocket(ctx, s)
					_, err = d.Connect(ctx, sdk.ConnectRequest{Host: "no-such-host.invalid", Port: echo})
					wantIs(t, "Connect to an unknown name", err, sdk.ErrNameNotResolved)
					// A closed port: refused, and the module's stray CLOSED
					// drops nothing.
					ln, _ := net.Listen("tcp", "127.0.0.1:0")
					closed := ln.Addr().(*net.TCPAddr).Port
					ln.Close()
					_, err = d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: closed})
					wantIs(t, "Connect to a closed port", err, sdk.ErrRefused)
				})
			}
		}
	}
}

func TestEmulatorListen(t *testing.T) {
	for _, fw := range firmwares {
		t.Run(string(fw), func(t *testing.T) {
			const offset = 1000
			e := newEmulator(t, emulator.Config{Firmware: fw, PortOffset: offset})
			rec := newRecorder()
			d := openOn(t, servePTY(t, e), nil, rec)
			ctx, cancel := ctxT()
			defer cancel()
			// The driver picks the module's port; the emulator listens on
			// it plus the offset (the driver tries another port while that
			// is beyond 65535 or in use).
			l, err := d.Listen(ctx, sdk.ListenRequest{Port: 0})
			if err != nil {
				t.Fatal(err)
			}
			port := listenPort(t, d, l)
			c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+offset)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			a := rec.waitAccepted(t, l)
			rec.mu.Lock()
			peer := rec.accepted[a]
			rec.mu.Unlock()
			if peer.String() != c.LocalAddr().String() {
				t.Errorf("Accepted peer %v, want %v", peer, c.LocalAddr())
			}
			c.Write([]byte("hello"))
			if got := rec.waitBytes(t, a, 5); string(got) != "hello" {
				t.Errorf("got %q", got)
			}
			if err := d.Send(ctx, a, []byte("world")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			c.SetReadDeadline(time.Now().Add(watchdog))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "world" {
				t.Errorf("peer read %q, %v", buf, err)
			}
			c.Close()
			wantIs(t, "Dropped after the peer closed", rec.waitDropped(t, a), sdk.ErrPeerClosed)
			if err := d.CloseSocket(ctx, l); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// listenPort returns the port a listener got (Local), for a Listen on
// port 0.
func listenPort(t testing.TB, d sdk.Driver, l sdk.Socket) int {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	a, err := d.Local(ctx, l)
	if err != nil || a.Port() == 0 {
		t.Fatalf("Local of the listener = %v, %v: want the port the driver picked", a, err)
	}
	return int(a.Port())
}

// TestEmulatorFaults runs transfers through every fault of the emulator, in
// both dialects: the driver must not panic nor hang, and no byte may be lost
// silently: what a real TCP echo peer sends back is always a prefix of what
// was sent, and either all of it arrives or the socket is dropped or its
// Send fails.
func TestEmulatorFaults(t *testing.T) {
	faults := []emulator.Fault{emulator.FaultBusy, emulator.FaultReset, emulator.FaultGarbage,
		emulator.FaultClosedBeforePrompt, emulator.FaultSendFail, emulator.FaultDNSFail, emulator.FaultInterleave,
		emulator.FaultShortRead, emulator.FaultLateSendFail, emulator.FaultErrorBeforeClosed}
	for _, fw := range firmwares {
		for _, f := range faults {
			t.Run(fmt.Sprintf("%s/%s", fw, f), func(t *testing.T) {
				e := newEmulator(t, emulator.Config{Firmware: fw, Faults: []emulator.Fault{f}, FaultRate: 0.1, Seed: 42})
				rec := newRecorder()
				d := openOn(t, servePipe(t, e), sdk.Settings{"timeout": "3s"}, rec)
				echo := echoServer(t)
				ok, failed := 0, 0
				for i := range 6 {
					if transfer(t, d, rec, echo, 6000+1000*i, uint64(i)) {
						ok++
					} else {
						failed++
					}
				}
				t.Logf("%s: %d transfers complete, %d cut short (socket dropped or send failed); faults %v", f, ok, failed, e.Stats().Faults)
				if f == emulator.FaultDNSFail {
					ctx, cancel := ctxT()
					defer cancel()
					_, err := d.Connect(ctx, sdk.ConnectRequest{Host: "localhost", Port: echo})
					wantIs(t, "Connect by name with dns-fail", err, sdk.ErrNameNotResolved)
				}
				if ok == 0 && f != emulator.FaultReset && f != emulator.FaultSendFail && f != emulator.FaultClosedBeforePrompt && f != emulator.FaultErrorBeforeClosed {
					t.Errorf("no transfer completed under %s", f)
				}
			})
		}
	}
}

// transfer sends n random bytes to the echo server through d and checks the
// echo; it reports whether the whole echo came back.
func transfer(t *testing.T, d *Driver, rec *recorder, echo, n int, seed uint64) bool {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	var s sdk.Socket
	var err error
	for range 5 { // a module reset during the connect fails it
		if s, err = d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: echo}); err == nil {
			break
		}
		if !errors.Is(err, sdk.ErrDevice) && !errors.Is(err, sdk.ErrBusy) && !errors.Is(err, sdk.ErrTimeout) {
			t.Fatalf("Connect: %v", err)
		}
		t.Logf("Connect: %v; again", err)
	}
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	want := randomBytes(n, seed)
	sent := 0
	var sendErr error
	for sent < n && sendErr == nil {
		k := min(n-sent, 1500)
		if sendErr = d.Send(ctx, s, want[sent:sent+k]); sendErr == nil {
			sent += k
		}
	}
	// Everything sent comes back, unless the socket is dropped.
	rec.until(t, fmt.Sprintf("echo of %d bytes or a drop on %v", sent, s), func() bool {
		_, gone := rec.dropped[s]
		return gone || (rec.data[s] != nil && rec.data[s].Len() >= sent)
	})
	got := rec.bytesOf(s)
	if !bytes.Equal(got, want[:min(len(got), n)]) || len(got) > n {
		t.Fatalf("%v: the echo is not a prefix of what was sent (%d bytes back of %d sent)", s, len(got), sent)
	}
	rec.mu.Lock()
	reason, dropped := rec.dropped[s]
	rec.mu.Unlock()
	if sendErr != nil || dropped {
		t.Logf("%v cut short: sent %d of %d (send error: %v), got back %d, dropped: %v", s, sent, n, sendErr, len(got), reason)
	}
	if !dropped {
		d.CloseSocket(ctx, s)
	}
	return sendErr == nil && !dropped && len(got) == n
}

// TestEmulatorSlowHandler: while one socket's handler is blocked, the driver
// reads no more of that socket's data from the module than its buffer
// holds (passive mode: the rest waits in the module and TCP holds the peer
// back), another socket's round trips go on, and once released every byte
// arrives in order.
func TestEmulatorSlowHandler(t *testing.T) {
	for _, fw := range firmwares {
		t.Run(string(fw), func(t *testing.T) {
			e := newEmulator(t, emulator.Config{Firmware: fw, Logger: testLogger(t).Named("emulator").Named(string(fw))})
			rec := newRecorder()
			const buffer = 8192
			d := openOn(t, servePipe(t, e), sdk.Settings{"buffer": strconv.Itoa(buffer)}, rec)
			ctx, cancel := ctxT()
			defer cancel()
			l, err := d.Listen(ctx, sdk.ListenRequest{Port: 0})
			if err != nil {
				t.Fatal(err)
			}
			port := listenPort(t, d, l)
			peer, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			slow := rec.waitAccepted(t, l)
			gate := make(chan struct{})
			held := make(chan struct{}, 1)
			rec.onReceived = func(s sdk.Socket, _ []byte) error {
				if s == slow {
					select {
					case held <- struct{}{}:
					default:
					}
					<-gate
				}
				return nil
			}
			want := randomBytes(256<<10, 7)
			wrote := make(chan int, 1)
			go func() {
				n, _ := peer.Write(want)
				wrote <- n
			}()
			<-held
			// The fast socket works while the slow one is held.
			fast, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: echoServer(t)})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				msg := []byte(fmt.Sprintf("round trip %d", i))
				before := len(rec.bytesOf(fast))
				if err := d.Send(ctx, fast, msg); err != nil {
					t.Fatal(err)
				}
				if got := rec.waitBytes(t, fast, before+len(msg)); !bytes.Equal(got[before:], msg) {
					t.Fatalf("round trip %d: got %q", i, got[before:])
				}
			}
			time.Sleep(300 * time.Millisecond)
			s := d.sess
			s.mu.Lock()
			var queued int
			for _, sk := range s.sockets {
				if sk.id == slow {
					queued = sk.qBytes
				}
			}
			s.mu.Unlock()
			got := len(rec.bytesOf(slow))
			t.Logf("handler held: %d bytes in the handler, %d queued in the driver (buffer %d)", got, queued, buffer)
			if queued > buffer {
				t.Errorf("%d bytes queued for a blocked handler, more than the buffer of %d", queued, buffer)
			}
			close(gate)
			if got := rec.waitBytes(t, slow, len(want)); !bytes.Equal(got, want) {
				t.Errorf("after release: %d bytes, not the %d sent in order", len(got), len(want))
			}
			select {
			case n := <-wrote:
				if n != len(want) {
					t.Errorf("peer wrote %d", n)
				}
			case <-time.After(watchdog):
				t.Fatal("the peer's write never finished")
			}
		})
	}
}
