package esp8266

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ifsock/ifsock/sdk"
)

// Scripted-modem tests: the driver against exact byte sequences of the
// reference, both dialects. Every script must be used up exactly.

var active = sdk.Settings{"passive": "off"}

func TestOpen17ThroughBootGarbage(t *testing.T) {
	m := newModem(t)
	// The module is still booting: ROM log, garbage at the wrong baud, then
	// ready; the first AT is lost in a busy module.
	m.emit(" ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nload 0x40100000, len 2408, room 16 \r\n\xfc\x8c\x85\xb10x1fc000\x8c\xe2\x9c\r\nr\xffready\r\nWIFI DISCONNECT\r\n")
	m.expect(step{"AT\r\n", "AT\r\r\n\r\nbusy p...\r\n"})
	m.expect(bringup17(true)...)
	_, _, info := scripted(t, m, nil)
	m.done()
	if info.Device != "ESP8266 AT 1.7.4.0" || info.MaxSockets != 6 || info.MaxConnections != 5 || info.MaxListeners != 1 || info.MaxWrite != 2048 || !info.CanListen || info.Name != "esp8266" || info.CanHalfClose {
		t.Errorf("Info = %+v", info)
	}
}

func TestOpen22WithErrCodes(t *testing.T) {
	steps := bringup22(true)
	steps[4].reply = "ERR CODE:0x01090000\r\n\r\nERROR\r\n"
	m := newModem(t, steps...)
	_, _, info := scripted(t, m, nil)
	m.done()
	if info.Device != "ESP8266 AT 2.2.0.0" {
		t.Errorf("Device = %q", info.Device)
	}
}

func TestOpenJoin(t *testing.T) {
	steps := bringup17(false)
	// After AT+CWMODE_CUR: the query says not joined, then the join.
	join := []step{
		{"AT+CWJAP_CUR?\r\n", "No AP\r\n\r\nOK\r\n"},
		{"AT+CWJAP_CUR=\"my\\,net\",\"p\\\"w\"\r\n", "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n"},
	}
	steps = append(steps[:4], append(join, steps[4:]...)...)
	m := newModem(t, steps...)
	d := NewOnPort(m)
	logs := &bytes.Buffer{}
	ctx, cancel := ctxT()
	defer cancel()
	_, err := d.Open(ctx, sdk.OpenRequest{Settings: sdk.Settings{"ssid": "my,net", "password": `p"w`, "passive": "off", "trace": "true"},
		Events: newRecorder(), Logger: hclogTo(logs)})
	if err != nil {
		t.Fatal(err)
	}
	m.done()
	d.Close(ctx)
	// The trace shows the whole conversation, escaped, but not the password.
	if s := logs.String(); strings.Contains(s, `p\\"w`) || strings.Contains(s, `p"w`) || !strings.Contains(s, `AT+CWJAP_CUR=\\"my\\,net\\",\\"***\\"`) {
		t.Errorf("trace log:\n%s", s)
	}

	// Already on the network: no join.
	steps = bringup22(true)
	steps = append(steps[:4], append([]step{{"AT+CWJAP?\r\n", "+CWJAP:\"home\",\"44:33:4c:90:96:9a\",11,-55,0,0,0,0,0\r\n\r\nOK\r\n"}}, steps[4:]...)...)
	m = newModem(t, steps...)
	scripted(t, m, sdk.Settings{"ssid": "home", "password": "x"})
	m.done()

	// A wrong password: the 2.x failure shape.
	steps = bringup22(true)[:4]
	steps = append(steps, step{"AT+CWJAP?\r\n", "\r\nOK\r\n"}, step{"AT+CWJAP=\"home\",\"bad\"\r\n", "+CWJAP:2\r\n\r\nERROR\r\n"})
	m = newModem(t, steps...)
	_, err = NewOnPort(m).Open(ctx, sdk.OpenRequest{Settings: sdk.Settings{"ssid": "home", "password": "bad"}, Events: newRecorder(), Logger: testLogger(t)})
	wantIs(t, "Open with a wrong password", err, sdk.ErrUnreachable)
	if err != nil && !strings.Contains(err.Error(), "wrong password") {
		t.Errorf("error %q does not say wrong password", err)
	}
	m.done()
}

func TestTraceRedactsPassword(t *testing.T) {
	var out bytes.Buffer
	m := newModem(t, step{"AT+CWJAP=\"n\",\"s3cr\\,t\"\r\n", "\r\nOK\r\n"})
	tr := newTrace(m, hclogTo(&out), quoteAT("s3cr,t"), "s3cr,t")
	writeFull(tr, []byte("AT+CWJAP=\"n\",\"s3cr\\,t\"\r\n"))
	buf := make([]byte, 16)
	tr.Read(buf)
	m.done()
	if strings.Contains(out.String(), "s3cr") {
		t.Errorf("trace shows the password: %s", out.String())
	}
	if !strings.Contains(out.String(), `tx`) || !strings.Contains(out.String(), `\r\nOK\r\n`) {
		t.Errorf("trace lacks the exchange: %s", out.String())
	}
}

func TestConnectSendReceive17(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, rec, _ := scripted(t, m, active)
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	ctx, cancel := ctxT()
	defer cancel()
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := d.Peer(ctx, s); err != nil || p.String() != "10.0.0.2:80" {
		t.Errorf("Peer = %v, %v", p, err)
	}
	// Payloads that hold OK, +IPD and a CLOSED-looking line, then a glued
	// CLOSED of another link.
	p1 := "\r\nOK\r\n+IPD,0,3:abc\r\n1,CLOSED\r\n"
	p2 := "tail without crlf"
	m.emit(fmt.Sprintf("\r\n+IPD,0,%d,10.0.0.2,80:%s\r\n+IPD,0,%d,10.0.0.2,80:%s", len(p1), p1, len(p2), p2))
	if got := rec.waitBytes(t, s, len(p1+p2)); string(got) != p1+p2 {
		t.Errorf("received %q, want %q", got, p1+p2)
	}
	// 5000 bytes: three CIPSENDs (2048, 2048, 904), the 1.x "> " prompt.
	data := bytes.Repeat([]byte("0123456789"), 500)
	m.expect(
		step{"AT+CIPSEND=0,2048\r\n", "\r\nOK\r\n> "}, step{string(data[:2048]), "\r\nRecv 2048 bytes\r\n\r\nSEND OK\r\n"},
		step{"AT+CIPSEND=0,2048\r\n", "\r\nOK\r\n> "}, step{string(data[2048:4096]), "\r\nRecv 2048 bytes\r\n\r\nSEND OK\r\n"},
		step{"AT+CIPSEND=0,904\r\n", "\r\nOK\r\n> "}, step{string(data[4096:]), "\r\nRecv 904 bytes\r\n\r\nSEND OK\r\n"},
	)
	if err := d.Send(ctx, s, data); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m.expect(step{"AT+CIPCLOSE=0\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
	if err := d.CloseSocket(ctx, s); err != nil {
		t.Fatalf("CloseSocket: %v", err)
	}
	wantIs(t, "Send after CloseSocket", d.Send(ctx, s, []byte("x")), sdk.ErrClosed)
	wantIs(t, "second CloseSocket", d.CloseSocket(ctx, s), sdk.ErrClosed)
	m.done()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if _, ok := rec.dropped[s]; ok {
		t.Errorf("a local close raised Dropped (rule 3)")
	}
}

// TestCloseWriteUnsupported: the AT firmware cannot half-close. CloseWrite
// is ErrUnsupported without a command on the wire and leaves the socket as
// it was (it still sends); on the listener it is ErrBadArgument, and on a
// closed or unknown socket ErrClosed.
func TestCloseWriteUnsupported(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, _, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	m.done()
	err = d.CloseWrite(ctx, s)
	wantIs(t, "CloseWrite", err, sdk.ErrUnsupported)
	if err != nil && !strings.Contains(err.Error(), "close the socket instead") {
		t.Errorf("CloseWrite error %q should say what to do", err)
	}
	m.expect(step{"AT+CIPSEND=0,5\r\n", "\r\nOK\r\n> "}, step{"hello", "\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n"})
	if err := d.Send(ctx, s, []byte("hello")); err != nil {
		t.Errorf("Send after an unsupported CloseWrite: %v, want the socket as it was", err)
	}
	m.expect(step{"AT+CIPSERVER=1,333\r\n", "\r\nOK\r\n"}, step{"AT+CIPSTO=0\r\n", "\r\nOK\r\n"})
	l, err := d.Listen(ctx, sdk.ListenRequest{Port: 333})
	if err != nil {
		t.Fatal(err)
	}
	wantIs(t, "CloseWrite on the listener", d.CloseWrite(ctx, l), sdk.ErrBadArgument)
	m.expect(step{"AT+CIPCLOSE=0\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
	if err := d.CloseSocket(ctx, s); err != nil {
		t.Fatal(err)
	}
	wantIs(t, "CloseWrite after CloseSocket", d.CloseWrite(ctx, s), sdk.ErrClosed)
	wantIs(t, "CloseWrite on an unknown socket", d.CloseWrite(ctx, 12345), sdk.ErrClosed)
	m.done()
	// Close: tidy the module.
	m.expect(step{"AT+CIPSERVER=0\r\n", "\r\nOK\r\n"})
}

func TestSend22BusyAndSendFail(t *testing.T) {
	m := newModem(t, bringup22(true)...)
	d, rec, _ := scripted(t, m, nil)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	// busy p: the line was dropped, the driver sends it again; the 2.x
	// prompt; an unsolicited notice of another link between Recv and SEND OK.
	m.expect(
		step{"AT+CIPSEND=0,5\r\n", "\r\nbusy p...\r\n"},
		step{"AT+CIPSEND=0,5\r\n", "\r\nOK\r\n\r\n>"},
		step{"hello", "\r\nRecv 5 bytes\r\n\r\n+IPD,3,10\r\n\r\nSEND OK\r\n"},
	)
	if err := d.Send(ctx, s, []byte("hello")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	// Recv N bytes then SEND FAIL: an error, the socket dropped, its link
	// closed.
	m.expect(
		step{"AT+CIPSEND=0,5\r\n", "\r\nOK\r\n\r\n>"},
		step{"world", "\r\nRecv 5 bytes\r\n\r\nSEND FAIL\r\n"},
		step{"AT+CIPCLOSE=0\r\n", "0,CLOSED\r\n\r\nOK\r\n"},
	)
	err = d.Send(ctx, s, []byte("world"))
	wantIs(t, "Send answered SEND FAIL", err, sdk.ErrReset)
	wantIs(t, "Dropped after SEND FAIL", rec.waitDropped(t, s), sdk.ErrReset)
	m.done()
	wantIs(t, "Send on the dropped socket", d.Send(ctx, s, []byte("x")), sdk.ErrClosed)
}

func TestConnectInsideEcho17(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, rec, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSERVER=1,333\r\n", "\r\nOK\r\n"}, step{"AT+CIPSTO=0\r\n", "\r\nOK\r\n"})
	l, err := d.Listen(ctx, sdk.ListenRequest{Port: 333})
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Listen(ctx, sdk.ListenRequest{Port: 334})
	wantIs(t, "a second Listen", err, sdk.ErrUnsupported)
	// With a listener open, connects take the highest free link.
	m.expect(step{"AT+CIPSTART=4,\"TCP\",\"10.0.0.2\",80\r\n", "4,CONNECT\r\n\r\nOK\r\n"})
	c, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	// The module echoes (as after a reset) and an incoming connection's
	// CONNECT lands inside the echo: AT+CIPSEND=4, 0,CONNECT 5\r\r\n.
	m.expect(
		step{"AT+CIPSEND=4,5\r\n", "AT+CIPSEND=4,0,CONNECT\r\n5\r\r\n\r\nOK\r\n> "},
		step{"hello", "\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n"},
		step{"AT+CIPSTATUS\r\n", "STATUS:3\r\n+CIPSTATUS:0,\"TCP\",\"10.0.0.9\",40000,333,1\r\n+CIPSTATUS:4,\"TCP\",\"10.0.0.2\",80,12000,0\r\n\r\nOK\r\n"},
	)
	if err := d.Send(ctx, c, []byte("hello")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	a := rec.waitAccepted(t, l)
	rec.mu.Lock()
	peer := rec.accepted[a]
	rec.mu.Unlock()
	if peer.String() != "10.0.0.9:40000" {
		t.Errorf("Accepted peer = %v, want 10.0.0.9:40000", peer)
	}
	if p, err := d.Peer(ctx, a); err != nil || p != peer {
		t.Errorf("Peer of the accepted socket = %v, %v", p, err)
	}
	// Data on the accepted socket, then its peer closes.
	m.emit("\r\n+IPD,0,4,10.0.0.9,40000:ping0,CLOSED\r\n")
	if got := rec.waitBytes(t, a, 4); string(got) != "ping" {
		t.Errorf("accepted socket got %q", got)
	}
	wantIs(t, "Dropped of the accepted socket", rec.waitDropped(t, a), sdk.ErrPeerClosed)
	m.done()
	// Close: tidy the module.
	m.expect(step{"AT+CIPSERVER=0\r\n", "\r\nOK\r\n"}, step{"AT+CIPCLOSE=5\r\n", "4,CLOSED\r\n\r\nOK\r\n"})
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	m.done()
}

func TestModuleResetMidSession(t *testing.T) {
	m := newModem(t, bringup22(false)...)
	d, rec, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSERVER=1,80\r\n", "\r\nOK\r\n"}, step{"AT+CIPSTO=0\r\n", "\r\nOK\r\n"},
		step{"AT+CIPSTART=4,\"TCP\",\"10.0.0.2\",80\r\n", "4,CONNECT\r\n\r\nOK\r\n"})
	l, err := d.Listen(ctx, sdk.ListenRequest{Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	m.done()
	// Watchdog reset: boot log, garbage, ready. Everything is dropped, and
	// the module is brought up again.
	m.expect(bringup22(false)...)
	m.emit("\r\n+IPD,4,2,\"10.0.0.2\",80:hi ets Jan  8 2013,rst cause:4, boot mode:(3,6)\r\n\r\nwdt reset\r\n\x8c\xe2\r\nready\r\n")
	if got := rec.waitBytes(t, c, 2); string(got) != "hi" {
		t.Errorf("data before the reset = %q", got)
	}
	wantIs(t, "Dropped of the client at the reset", rec.waitDropped(t, c), sdk.ErrDevice)
	wantIs(t, "Dropped of the listener at the reset", rec.waitDropped(t, l), sdk.ErrDevice)
	m.done()
	wantIs(t, "Send after the reset", d.Send(ctx, c, []byte("x")), sdk.ErrClosed)
	// The driver works again.
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	if _, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80}); err != nil {
		t.Fatalf("Connect after the reset: %v", err)
	}
	m.expect(step{"AT+CIPCLOSE=5\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
}

func TestPassiveReceive(t *testing.T) {
	for _, fw := range []string{"1.7", "2.2"} {
		t.Run(fw, func(t *testing.T) {
			var m *modem
			var fetched string
			if fw == "1.7" {
				m = newModem(t, bringup17(true)...)
				fetched = "\r\n+CIPRECVDATA,10:0123\r\nOK\r\n\r\nOK\r\n"
			} else {
				m = newModem(t, bringup22(true)...)
				fetched = "+CIPRECVDATA:10,\"10.0.0.2\",80,0123\r\nOK\r\n\r\nOK\r\n"
			}
			d, rec, _ := scripted(t, m, nil)
			ctx, cancel := ctxT()
			defer cancel()
			m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
			s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
			if err != nil {
				t.Fatal(err)
			}
			// A notice; the driver reads; fewer bytes than asked: done.
			m.expect(step{"AT+CIPRECVDATA=0,2048\r\n", fetched})
			m.emit("\r\n+IPD,0,10\r\n")
			if got := rec.waitBytes(t, s, 10); string(got) != "0123\r\nOK\r\n" {
				t.Errorf("received %q", got)
			}
			m.done()
			// The peer closes with data still in the module (1.x prints
			// CLOSED at once): the driver reads it all, then Dropped.
			if fw == "1.7" {
				// ... and asks whether anything is left before the drop.
				m.expect(step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,3:end\r\nOK\r\n"},
					step{"AT+CIPRECVLEN?\r\n", "+CIPRECVLEN:0,0,0,0,0\r\n\r\nOK\r\n"})
				m.emit("\r\n+IPD,0,3\r\n0,CLOSED\r\n")
			} else {
				m.expect(step{"AT+CIPRECVDATA=0,2048\r\n", "+CIPRECVDATA:3,\"10.0.0.2\",80,end\r\nOK\r\n0,CLOSED\r\n"})
				m.emit("\r\n+IPD,0,3\r\n")
			}
			wantIs(t, "Dropped", rec.waitDropped(t, s), sdk.ErrPeerClosed)
			if got := rec.bytesOf(s); string(got) != "0123\r\nOK\r\nend" {
				t.Errorf("received %q before Dropped", got)
			}
			m.done()
		})
	}
}

func TestPassiveFlowControl(t *testing.T) {
	m := newModem(t, bringup17(true)...)
	d, rec, _ := scripted(t, m, sdk.Settings{"buffer": "4096"})
	gate := make(chan struct{})
	inHandler := make(chan struct{}, 1)
	rec.onReceived = func(sdk.Socket, []byte) error {
		select {
		case inHandler <- struct{}{}:
		default:
		}
		<-gate
		return nil
	}
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	chunk := strings.Repeat("x", 2048)
	full := step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,2048:" + chunk + "\r\nOK\r\n"}
	// With the handler blocked: one chunk in the handler, two queued (the
	// 4096-byte buffer), and not one read more: the script would catch it.
	m.expect(full, full, full)
	m.emit("\r\n+IPD,0,2920\r\n")
	<-inHandler
	m.wait()
	time.Sleep(200 * time.Millisecond) // a fourth read would show up here
	m.done()
	// Released: the rest, ending with a short read.
	m.expect(full, step{"AT+CIPRECVDATA=0,2048\r\n", "\r\n+CIPRECVDATA,5:tail.\r\nOK\r\n"})
	close(gate)
	got := rec.waitBytes(t, s, 4*2048+5)
	if len(got) != 4*2048+5 || !strings.HasSuffix(string(got), "tail.") {
		t.Errorf("received %d bytes", len(got))
	}
	m.done()
	m.expect(step{"AT+CIPCLOSE=5\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
}

func TestActiveOverflow(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, rec, _ := scripted(t, m, sdk.Settings{"passive": "off", "buffer": "1024"})
	gate := make(chan struct{})
	rec.onReceived = func(sdk.Socket, []byte) error { <-gate; return nil }
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	seg := strings.Repeat("y", 600)
	m.expect(step{"AT+CIPCLOSE=0\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
	m.emit("\r\n+IPD,0,600:" + seg)
	rec.until(t, "the first segment in the handler", func() bool { return rec.data[s] != nil })
	m.emit("\r\n+IPD,0,600:" + seg + "\r\n+IPD,0,600:" + seg)
	m.wait()
	close(gate)
	wantIs(t, "Dropped when the buffer overflowed", rec.waitDropped(t, s), sdk.ErrOverflow)
	if got := rec.bytesOf(s); len(got) != 1200 {
		t.Errorf("delivered %d bytes before the drop, want the 1200 that fitted", len(got))
	}
	m.done()
}

func TestConnectErrors(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, rec, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	connect := func(host string) error {
		_, err := d.Connect(ctx, sdk.ConnectRequest{Host: host, Port: 80})
		return err
	}
	// Refused: ERROR then "0,CLOSED", which drops nothing.
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "\r\nbusy p...\r\n"},
		step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "\r\nERROR\r\n0,CLOSED\r\n"})
	wantIs(t, "refused", connect("10.0.0.2"), sdk.ErrRefused)
	// No IP.
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "no ip\r\n\r\nERROR\r\n"})
	wantIs(t, "no ip", connect("10.0.0.2"), sdk.ErrUnreachable)
	// A name the module cannot resolve.
	m.expect(step{"AT+CIPDOMAIN=\"nowhere.invalid\"\r\n", "DNS Fail\r\n\r\nERROR\r\n"})
	wantIs(t, "DNS Fail", connect("nowhere.invalid"), sdk.ErrNameNotResolved)
	// A name it resolves.
	m.expect(step{"AT+CIPDOMAIN=\"example.com\"\r\n", "+CIPDOMAIN:93.184.216.34\r\n\r\nOK\r\n"},
		step{"AT+CIPSTART=0,\"TCP\",\"93.184.216.34\",80\r\n", "ALREADY CONNECTED\r\n\r\nERROR\r\n"},
		// A link left open by someone else: closed, and the connect is
		// tried again.
		step{"AT+CIPCLOSE=0\r\n", "0,CLOSED\r\n\r\nOK\r\n"},
		step{"AT+CIPSTART=0,\"TCP\",\"93.184.216.34\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "example.com", Port: 80})
	if err != nil {
		t.Fatalf("Connect(example.com): %v", err)
	}
	if p, _ := d.Peer(ctx, s); p.String() != "93.184.216.34:80" {
		t.Errorf("Peer = %v", p)
	}
	// IPv6 and bad hosts fail before the module.
	wantIs(t, "IPv6", connect("::1"), sdk.ErrUnsupported)
	wantIs(t, "a quote in the host", connect(`a"b`), sdk.ErrBadArgument)
	_, err = d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 0})
	wantIs(t, "port 0", err, sdk.ErrBadArgument)
	// The link is not valid any more (the peer closed it; its CLOSED is
	// late or lost): the Send fails with ErrPeerClosed, nothing of it
	// sent, and the socket is dropped with ErrPeerClosed (issue 8, item 3).
	m.expect(step{"AT+CIPSEND=0,1\r\n", "link is not valid\r\n\r\nERROR\r\n"})
	wantIs(t, "Send on a link the module lost", d.Send(ctx, s, []byte("x")), sdk.ErrPeerClosed)
	wantIs(t, "Dropped of a link the module lost", rec.waitDropped(t, s), sdk.ErrPeerClosed)
	wantIs(t, "CloseSocket after the drop", d.CloseSocket(ctx, s), sdk.ErrClosed)
	m.done()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.dropped) != 1 {
		t.Errorf("Dropped raised: %v, want only the lost link's", rec.dropped)
	}
}

func TestSocketLimit(t *testing.T) {
	m := newModem(t, bringup22(false)...)
	d, _, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSERVER=1,80\r\n", "\r\nOK\r\n"}, step{"AT+CIPSTO=0\r\n", "\r\nOK\r\n"})
	if _, err := d.Listen(ctx, sdk.ListenRequest{Port: 80}); err != nil {
		t.Fatal(err)
	}
	for id := 4; id >= 0; id-- {
		m.expect(step{fmt.Sprintf("AT+CIPSTART=%d,\"TCP\",\"10.0.0.2\",80\r\n", id), fmt.Sprintf("%d,CONNECT\r\n\r\nOK\r\n", id)})
		if _, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80}); err != nil {
			t.Fatalf("connect %d: %v", id, err)
		}
	}
	// The listener (which takes no link) and five connections: the limit.
	_, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	wantIs(t, "a sixth connection", err, sdk.ErrNoSockets)
	m.done()
	m.expect(step{"AT+CIPSERVER=0\r\n", "\r\nOK\r\n"}, step{"AT+CIPCLOSE=5\r\n", "0,CLOSED\r\n1,CLOSED\r\n2,CLOSED\r\n3,CLOSED\r\n4,CLOSED\r\n\r\nOK\r\n"})
}

func TestCommandTimeoutResync(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, _, _ := scripted(t, m, sdk.Settings{"passive": "off", "timeout": "300ms"})
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	// SEND OK does not come in time: ErrTimeout, saying the bytes were
	// given to the module. The late SEND OK comes with the resync.
	m.expect(step{"AT+CIPSEND=0,3\r\n", "\r\nOK\r\n> "}, step{"abc", "\r\nRecv 3 bytes\r\n"},
		step{"AT+CIPMUX?\r\n", "\r\nbusy s...\r\n"},
		step{"AT+CIPMUX?\r\n", "\r\nSEND OK\r\n+CIPMUX:1\r\n\r\nOK\r\n"},
		step{"AT+CIPSEND=0,3\r\n", "\r\nOK\r\n> "}, step{"def", "\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n"})
	err = d.Send(ctx, s, []byte("abc"))
	wantIs(t, "Send with no SEND OK", err, sdk.ErrTimeout)
	if err != nil && !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("error %q does not say the bytes were given", err)
	}
	if err := d.Send(ctx, s, []byte("def")); err != nil {
		t.Fatalf("Send after the resync: %v", err)
	}
	m.done()
	m.expect(step{"AT+CIPCLOSE=5\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
}

func TestCanceledCallFinishesCommand(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, _, _ := scripted(t, m, active)
	// The caller gives up while CIPSTART is on the wire; the module
	// connects afterwards: the driver closes that link, nobody owns it.
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", ""})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	wantIs(t, "Connect past its ctx", err, sdk.ErrTimeout)
	m.done()
	m.expect(step{"AT+CIPCLOSE=0\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
	m.emit("0,CONNECT\r\n\r\nOK\r\n")
	m.done()
}

func TestPortFailure(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d, rec, _ := scripted(t, m, active)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	m.Close() // the cable is pulled
	wantIs(t, "Dropped when the port failed", rec.waitDropped(t, s), sdk.ErrDevice)
	_, err = d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	wantIs(t, "Connect on a failed port", err, sdk.ErrDevice)
}

func TestCloseWithHungModule(t *testing.T) {
	m := newModem(t, bringup17(false)...)
	d := NewOnPort(m)
	rec := newRecorder()
	ctx, cancel := ctxT()
	defer cancel()
	if _, err := d.Open(ctx, sdk.OpenRequest{Settings: active, Events: rec, Logger: testLogger(t)}); err != nil {
		t.Fatal(err)
	}
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", ""}) // never answers
	cctx, ccancel := context.WithTimeout(ctx, 50*time.Millisecond)
	d.Connect(cctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	ccancel()
	start := time.Now()
	if err := d.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Close took %v", time.Since(start))
	}
	if err := d.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	wantIs(t, "Connect after Close", err, sdk.ErrNotOpen)
	_, err = d.Open(ctx, sdk.OpenRequest{Settings: active, Events: rec, Logger: testLogger(t)})
	wantIs(t, "Open again with a closed injected port", err, sdk.ErrNotOpen)
	rec.check(t)
}

func TestOpenNoAnswer(t *testing.T) {
	m := newModem(t)
	m.lenient = true
	m.expect(step{"AT\r\n", ""}, step{"AT\r\n", ""}) // a dead module: the script stops
	d := NewOnPort(m)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := d.Open(ctx, sdk.OpenRequest{Settings: sdk.Settings{"timeout": "1s"}, Events: newRecorder(), Logger: testLogger(t)})
	if err == nil {
		t.Fatal("Open of a dead module succeeded")
	}
	if !errors.Is(err, sdk.ErrTimeout) && !errors.Is(err, sdk.ErrDevice) {
		t.Errorf("Open of a dead module: %v", err)
	}
}

func TestSettings(t *testing.T) {
	for _, tc := range []struct {
		s        sdk.Settings
		injected bool
		ok       bool
	}{
		{sdk.Settings{}, false, false}, // port required
		{sdk.Settings{"port": "/dev/ttyUSB0"}, false, true},
		{sdk.Settings{}, true, true},
		{sdk.Settings{"bogus": "1"}, true, false},
		{sdk.Settings{"baud": "fast"}, true, false},
		{sdk.Settings{"baud": "921600", "join": "false", "trace": "on", "passive": "on", "buffer": "8192", "timeout": "2s", "firmware": "2.2"}, true, true},
		{sdk.Settings{"firmware": "3.0"}, true, false},
		{sdk.Settings{"passive": "maybe"}, true, false},
		{sdk.Settings{"passive": "true"}, true, true},
		{sdk.Settings{"buffer": "10"}, true, false},
		{sdk.Settings{"ssid": "a\r\nAT+RST"}, true, false},
	} {
		_, err := parseSettings(tc.s, tc.injected)
		if (err == nil) != tc.ok {
			t.Errorf("parseSettings(%v) = %v, want ok=%v", tc.s, err, tc.ok)
		}
		if err != nil {
			wantIs(t, fmt.Sprint(tc.s), err, sdk.ErrBadArgument)
		}
	}
	c, _ := parseSettings(sdk.Settings{}, true)
	if c.baud != 115200 || !c.join || c.firmware != "auto" || c.passive != "auto" || c.buffer != 16384 || c.timeout != 10*time.Second || c.trace {
		t.Errorf("defaults = %+v", c)
	}
	_, err := New().Open(context.Background(), sdk.OpenRequest{Settings: sdk.Settings{"port": "/dev/does-not-exist"}, Events: newRecorder()})
	wantIs(t, "Open of a missing device", err, sdk.ErrDevice)
}

// A 2.x notice right after a read that found nothing (ERROR) tells of new
// data, and 2.x sends no other notice until the next read: the driver must
// read again (a stall found by the conformance suite's Stream).
func TestPassiveNoticeAfterEmptyRead(t *testing.T) {
	m := newModem(t, bringup22(true)...)
	d, rec, _ := scripted(t, m, nil)
	ctx, cancel := ctxT()
	defer cancel()
	m.expect(step{"AT+CIPSTART=0,\"TCP\",\"10.0.0.2\",80\r\n", "0,CONNECT\r\n\r\nOK\r\n"})
	s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "10.0.0.2", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	chunk := strings.Repeat("a", 2048)
	m.expect(
		step{"AT+CIPRECVDATA=0,2048\r\n", "+CIPRECVDATA:2048,\"10.0.0.2\",80," + chunk + "\r\nOK\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "\r\nERROR\r\n\r\n+IPD,0,5\r\n"},
		step{"AT+CIPRECVDATA=0,2048\r\n", "+CIPRECVDATA:5,\"10.0.0.2\",80,later\r\nOK\r\n"},
	)
	m.emit("\r\n+IPD,0,1460\r\n")
	if got := rec.waitBytes(t, s, 2053); string(got) != chunk+"later" {
		t.Errorf("received %d bytes", len(got))
	}
	m.done()
	m.expect(step{"AT+CIPCLOSE=5\r\n", "0,CLOSED\r\n\r\nOK\r\n"})
}
