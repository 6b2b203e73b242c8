package esp8266

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
	"github.com/ifsock/ifsock/sdk"
	"github.com/ifsock/ifsock/sdk/sdktest"
)

// Server-side tests (issue 8, items 4-8): the driver in a real plugin
// process, on the emulator's pseudo-terminal opened with go.bug.st/serial,
// its server's clients real TCP sockets on 127.0.0.1.

// pluginServer runs an emulator with faults, opens the driver in a plugin
// process on it, and starts listening. It returns the driver, its events,
// the listener and the host port clients dial.
type pluginServer struct {
	d    sdk.Driver
	rec  *recorder
	info sdk.Info
	l    sdk.Socket
	port int
	emu  *emulator.Emulator
}

func startPluginServer(t *testing.T, fw emulator.Firmware, faults []emulator.Fault, settings sdk.Settings) *pluginServer {
	t.Helper()
	e := newEmulator(t, emulator.Config{Firmware: fw, Faults: faults, Latency: time.Millisecond})
	path := servePTY(t, e)
	settings = settings.Clone()
	if settings == nil {
		settings = sdk.Settings{}
	}
	settings["port"], settings["baud"] = path, strconv.Itoa(fastBaud)
	d := sdktest.Launch(t, "esp8266")
	rec := newRecorder()
	ctx, cancel := ctxT()
	defer cancel()
	info, err := d.Open(ctx, sdk.OpenRequest{Interface: "wl0", Settings: settings, Events: rec, Logger: testLogger(t).Named("driver")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	l, err := d.Listen(ctx, sdk.ListenRequest{Port: 0})
	if err != nil {
		t.Fatalf("Listen(0): %v", err)
	}
	port := listenPort(t, d, l)
	t.Cleanup(func() { rec.check(t) })
	return &pluginServer{d: d, rec: rec, info: info, l: l, port: port, emu: e}
}

func (p *pluginServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
	if err != nil {
		t.Fatalf("dial the module's server: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// socketWith waits for the accepted socket whose received data starts with
// prefix.
func (p *pluginServer) socketWith(t *testing.T, prefix string) sdk.Socket {
	t.Helper()
	var got sdk.Socket
	p.rec.until(t, fmt.Sprintf("an accepted socket receiving %q", prefix), func() bool {
		for s, b := range p.rec.data {
			if p.rec.parents[s] == p.l && bytes.HasPrefix(b.Bytes(), []byte(prefix)) {
				got = s
				return true
			}
		}
		return false
	})
	return got
}

func readN(t *testing.T, c net.Conn, n int, within time.Duration) string {
	t.Helper()
	buf := make([]byte, n)
	c.SetReadDeadline(time.Now().Add(within))
	k, err := io.ReadFull(c, buf)
	if err != nil {
		t.Fatalf("client %v read %q then: %v", c.LocalAddr(), buf[:k], err)
	}
	return string(buf)
}

func peerOf(c net.Conn) netip.AddrPort {
	return netip.MustParseAddrPort(c.LocalAddr().String())
}

// TestServerFiveClients (item 4): the module serves five connections on
// links 0-4 besides its server; a sixth, which the module refuses, does not
// disturb them.
func TestServerFiveClients(t *testing.T) {
	for _, fw := range firmwares {
		t.Run(string(fw), func(t *testing.T) {
			p := startPluginServer(t, fw, nil, nil)
			if p.info.MaxConnections != numLinks || p.info.MaxListeners != 1 || p.info.MaxSockets != numLinks+1 {
				t.Errorf("Info: MaxSockets %d, MaxListeners %d, MaxConnections %d; want 6, 1, 5",
					p.info.MaxSockets, p.info.MaxListeners, p.info.MaxConnections)
			}
			ctx, cancel := ctxT()
			defer cancel()
			var clients []net.Conn
			var socks []sdk.Socket
			for i := range numLinks {
				c := p.dial(t)
				msg := fmt.Sprintf("client %d", i)
				c.Write([]byte(msg))
				socks = append(socks, p.socketWith(t, msg))
				clients = append(clients, c)
			}
			// The sixth: the module refuses it (closes it).
			sixth := p.dial(t)
			sixth.Write([]byte("client 5"))
			sixth.SetReadDeadline(time.Now().Add(watchdog))
			if n, err := sixth.Read(make([]byte, 1)); err == nil {
				t.Errorf("the sixth client read %d bytes: want the module to refuse it", n)
			}
			for i, s := range socks {
				msg := fmt.Sprintf("reply %d", i)
				if err := p.d.Send(ctx, s, []byte(msg)); err != nil {
					t.Fatalf("Send to client %d: %v", i, err)
				}
				if got := readN(t, clients[i], len(msg), watchdog); got != msg {
					t.Errorf("client %d read %q, want %q", i, got, msg)
				}
			}
			p.rec.mu.Lock()
			for i, s := range socks {
				if r, ok := p.rec.dropped[s]; ok {
					t.Errorf("client %d (%v) was dropped: %v", i, s, r)
				}
			}
			p.rec.mu.Unlock()
		})
	}
}

// TestServerSilentNotice (item 5): on 2.x in passive mode the data a client
// sends right after connecting may come with no +IPD notice (esp-at#294);
// the driver must still answer it within a second.
func TestServerSilentNotice(t *testing.T) {
	p := startPluginServer(t, emulator.Firmware22, []emulator.Fault{emulator.FaultSilentNotice}, sdk.Settings{"passive": "on"})
	c := p.dial(t)
	start := time.Now()
	c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	var s sdk.Socket
	p.rec.until(t, "the request", func() bool {
		for k, b := range p.rec.data {
			if p.rec.parents[k] == p.l && b.Len() > 0 {
				s = k
				return true
			}
		}
		return false
	})
	if d := time.Since(start); d > time.Second {
		t.Errorf("the request reached the application after %v, want within 1s", d)
	}
	if got := p.rec.waitBytes(t, s, 18); string(got) != "GET / HTTP/1.0\r\n\r\n" {
		t.Errorf("got %q", got)
	}
	if n := p.emu.Stats().Faults[emulator.FaultSilentNotice]; n == 0 {
		t.Error("the silent-notice fault never applied")
	}
}

// TestServerEarlyClient (items 7 and 8): a client that connects, sends and
// closes at once, all announced in one burst before the driver could ask
// AT+CIPSTATUS: its data reaches the application, then one disconnect, and
// the peer is the client's address when the module gave it (+IPD with
// CIPDINFO, AT+CIPSTATUS, +CIPRECVDATA on 2.x), never an invalid one
// otherwise: then Accepted carries the zero AddrPort and Peer is an error.
func TestServerEarlyClient(t *testing.T) {
	for _, fw := range firmwares {
		for _, passive := range []string{"off", "on"} {
			t.Run(fmt.Sprintf("%s/passive=%s", fw, passive), func(t *testing.T) {
				p := startPluginServer(t, fw, []emulator.Fault{emulator.FaultBurstAccept}, sdk.Settings{"passive": passive})
				c := p.dial(t)
				c.Write([]byte("bye now"))
				c.Close()
				s := p.socketWith(t, "bye")
				if got := p.rec.waitBytes(t, s, 7); string(got) != "bye now" {
					t.Errorf("got %q", got)
				}
				wantIs(t, "Dropped of the early client", p.rec.waitDropped(t, s), sdk.ErrPeerClosed)
				p.rec.mu.Lock()
				peer := p.rec.accepted[s]
				p.rec.mu.Unlock()
				known := passive == "off" || fw == emulator.Firmware22
				switch {
				case peer == peerOf(c):
				case !known && peer == netip.AddrPort{}:
					t.Logf("Accepted with no peer (the module never said it): fine")
				default:
					t.Errorf("Accepted peer %v (valid %v), want %v", peer, peer.IsValid(), peerOf(c))
				}
				if n := p.emu.Stats().Faults[emulator.FaultBurstAccept]; n == 0 {
					t.Error("the burst-accept fault never applied")
				}
			})
		}
	}
}

// TestServerAcceptShapes (item 8): connections announced in the shapes real
// modules use, in both dialects.
func TestServerAcceptShapes(t *testing.T) {
	for _, fw := range firmwares {
		t.Run(string(fw)+"/sysmsg", func(t *testing.T) {
			// +LINK_CONN instead of <id>,CONNECT, with the peer in it.
			p := startPluginServer(t, fw, []emulator.Fault{emulator.FaultSysMsg}, nil)
			c := p.dial(t)
			c.Write([]byte("hello"))
			s := p.socketWith(t, "hello")
			p.rec.mu.Lock()
			peer := p.rec.accepted[s]
			p.rec.mu.Unlock()
			if peer != peerOf(c) {
				t.Errorf("Accepted peer %v, want %v", peer, peerOf(c))
			}
			ctx, cancel := ctxT()
			defer cancel()
			if err := p.d.Send(ctx, s, []byte("world")); err != nil {
				t.Fatal(err)
			}
			if got := readN(t, c, 5, watchdog); got != "world" {
				t.Errorf("client read %q", got)
			}
			// A connect through the module is announced the same way.
			echo := echoServer(t)
			cs, err := p.d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: echo})
			if err != nil {
				t.Fatalf("Connect with +LINK_CONN: %v", err)
			}
			if err := p.d.Send(ctx, cs, []byte("ping")); err != nil {
				t.Fatal(err)
			}
			if got := p.rec.waitBytes(t, cs, 4); string(got) != "ping" {
				t.Errorf("echo %q", got)
			}
		})
		t.Run(string(fw)+"/idle-timeout", func(t *testing.T) {
			// The module's CIPSTO timer closes an idle client.
			p := startPluginServer(t, fw, []emulator.Fault{emulator.FaultIdleTimeout}, nil)
			c := p.dial(t)
			c.Write([]byte("idle"))
			s := p.socketWith(t, "idle")
			wantIs(t, "Dropped of the idle client", p.rec.waitDropped(t, s), sdk.ErrPeerClosed)
			// The next client is served.
			c2 := p.dial(t)
			c2.Write([]byte("next"))
			s2 := p.socketWith(t, "next")
			ctx, cancel := ctxT()
			defer cancel()
			if err := p.d.Send(ctx, s2, []byte("ok")); err != nil {
				t.Fatal(err)
			}
			if got := readN(t, c2, 2, watchdog); got != "ok" {
				t.Errorf("client read %q", got)
			}
			_ = c
		})
		t.Run(string(fw)+"/client-reset", func(t *testing.T) {
			// The client resets while the driver writes to it (">",
			// "<id>,CLOSED", "Recv", "SEND FAIL"); a new client gets the
			// freed link id right after and is served.
			p := startPluginServer(t, fw, []emulator.Fault{emulator.FaultClientReset}, nil)
			c := p.dial(t)
			c.Write([]byte("first"))
			s := p.socketWith(t, "first")
			ctx, cancel := ctxT()
			defer cancel()
			err := p.d.Send(ctx, s, []byte("to a client that resets"))
			if err == nil {
				t.Error("Send to the client that reset: nil error")
			}
			t.Logf("Send to the client that reset: %v", err)
			p.rec.waitDropped(t, s)
			c2 := p.dial(t)
			c2.Write([]byte("second"))
			s2 := p.socketWith(t, "second")
			if err := p.d.Send(ctx, s2, []byte("served")); err != nil {
				t.Fatalf("Send to the new client: %v", err)
			}
			if got := readN(t, c2, 6, watchdog); got != "served" {
				t.Errorf("new client read %q", got)
			}
			p.rec.mu.Lock()
			r, dropped := p.rec.dropped[s2]
			p.rec.mu.Unlock()
			if dropped {
				t.Errorf("the new client was dropped: %v", r)
			}
		})
		t.Run(string(fw)+"/interleave", func(t *testing.T) {
			// <id>,CONNECT inside echoes, between the prompt and Recv, and
			// between Recv and SEND OK of another link's send.
			p := startPluginServer(t, fw, []emulator.Fault{emulator.FaultInterleave}, nil)
			c := p.dial(t)
			c.Write([]byte("talker"))
			s := p.socketWith(t, "talker")
			ctx, cancel := ctxT()
			defer cancel()
			done := make(chan error, 1)
			go func() {
				for i := range 20 {
					if err := p.d.Send(ctx, s, bytes.Repeat([]byte{'x'}, 100)); err != nil {
						done <- fmt.Errorf("send %d: %w", i, err)
						return
					}
				}
				done <- nil
			}()
			var others []net.Conn
			for i := range 3 {
				o := p.dial(t)
				o.Write([]byte(fmt.Sprintf("other %d", i)))
				others = append(others, o)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			readN(t, c, 2000, watchdog)
			for i, o := range others {
				so := p.socketWith(t, fmt.Sprintf("other %d", i))
				if err := p.d.Send(ctx, so, []byte("hi")); err != nil {
					t.Fatal(err)
				}
				if got := readN(t, o, 2, watchdog); got != "hi" {
					t.Errorf("other %d read %q", i, got)
				}
			}
			if p.emu.Stats().Faults[emulator.FaultInterleave] == 0 {
				t.Log("no event was held to an interleave point")
			}
		})
	}
}

var _ = errors.Is
var _ = context.Background

// TestAcceptPeerFromIPD (item 7, scripted): a client that connects, sends
// and closes in one burst is gone from AT+CIPSTATUS by the time the driver
// asks; its address comes from the +IPD header (CIPDINFO=1). A client that
// left without a word is announced with the zero address, never an invalid
// one passed off as its peer, and Peer is an error.
func TestAcceptPeerFromIPD(t *testing.T) {
	m := newModem(t, bringup22(false)...)
	d, rec, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSERVER=1,80\r\n", "\r\nOK\r\n"}, step{"AT+CIPSTO=0\r\n", "\r\nOK\r\n"})
	l, err := d.Listen(ctx, sdk.ListenRequest{Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	m.done()
	m.expect(step{"AT+CIPSTATUS\r\n", "STATUS:4\r\n\r\nOK\r\n"})
	m.emit("0,CONNECT\r\n\r\n+IPD,0,3,\"10.0.0.9\",5000:bye0,CLOSED\r\n")
	s := rec.waitAccepted(t, l)
	if got := rec.waitBytes(t, s, 3); string(got) != "bye" {
		t.Errorf("data %q", got)
	}
	wantIs(t, "Dropped", rec.waitDropped(t, s), sdk.ErrPeerClosed)
	rec.mu.Lock()
	peer := rec.accepted[s]
	rec.mu.Unlock()
	if want := netip.MustParseAddrPort("10.0.0.9:5000"); peer != want {
		t.Errorf("Accepted peer %v, want %v", peer, want)
	}
	m.done()

	// No data, no address: unknown.
	m.expect(step{"AT+CIPSTATUS\r\n", "STATUS:4\r\n\r\nOK\r\n"})
	m.emit("1,CONNECT\r\n1,CLOSED\r\n")
	var s2 sdk.Socket
	rec.until(t, "the second accept", func() bool {
		for k, p := range rec.parents {
			if p == l && k != s {
				s2 = k
				return true
			}
		}
		return false
	})
	rec.waitDropped(t, s2)
	rec.mu.Lock()
	peer = rec.accepted[s2]
	rec.mu.Unlock()
	if peer != (netip.AddrPort{}) {
		t.Errorf("Accepted peer of a client that left unseen: %v, want the zero AddrPort", peer)
	}
	if p, err := d.Peer(ctx, s2); err == nil {
		t.Errorf("Peer of a client that left unseen: %v, nil error", p)
	}
	m.done()
	m.expect(step{"AT+CIPSERVER=0\r\n", "\r\nOK\r\n"})
}

// TestAcceptAsksRecvLen (item 5, scripted): on 2.x in passive mode the
// driver asks AT+CIPRECVLEN? after an accept, and reads data that came with
// no +IPD notice (esp-at#294). The accept here is +LINK_CONN (AT+SYSMSG
// left set), which names the peer: no AT+CIPSTATUS.
func TestAcceptAsksRecvLen(t *testing.T) {
	m := newModem(t, bringup22(true)...)
	d, rec, _ := scripted(t, m, nil)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSERVER=1,80\r\n", "\r\nOK\r\n"}, step{"AT+CIPSTO=0\r\n", "\r\nOK\r\n"})
	l, err := d.Listen(ctx, sdk.ListenRequest{Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	m.done()
	const req = "GET / HTTP/1.0\r\n\r\n"
	m.expect(
		step{"AT+CIPRECVLEN?\r\n", "+CIPRECVLEN:18,-1,-1,-1,-1\r\n\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "+CIPRECVDATA:18,\"10.0.0.9\",5000," + req + "\r\nOK\r\n"},
	)
	m.emit("+LINK_CONN:0,0,\"TCP\",1,\"10.0.0.9\",5000,80\r\n")
	s := rec.waitAccepted(t, l)
	if got := rec.waitBytes(t, s, len(req)); string(got) != req {
		t.Errorf("data %q", got)
	}
	rec.mu.Lock()
	peer := rec.accepted[s]
	rec.mu.Unlock()
	if want := netip.MustParseAddrPort("10.0.0.9:5000"); peer != want {
		t.Errorf("Accepted peer %v, want %v", peer, want)
	}
	m.done()
	m.expect(step{"AT+CIPSERVER=0\r\n", "\r\nOK\r\n"}, step{"AT+CIPCLOSE=5\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
}
