package emulator

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// The client-side faults, byte for byte (issue 8, items 1-3).

// TestFaultShortRead: in 1.7 passive mode, a peer's reply and close: the
// notice, then CLOSED while the data is buffered; every read is answered
// short, and the data stays readable until it is drained.
func TestFaultShortRead(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true, Faults: []Fault{FaultShortRead}})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	r.cmd("AT+CIPRECVMODE=1", "\r\nOK\r\n")
	p := newPeer(t)
	c := r.connect(p, 0)
	body := strings.Repeat("0123456789", 62) + "x" // 621 bytes
	c.Write([]byte(body))
	c.Close()
	r.expect("\r\n+IPD,0,621\r\n0,CLOSED\r\n")
	got := ""
	for range 5 {
		n := (len(body) - len(got)) * 3 / 8 // 232 of 621 first
		r.cmd("AT+CIPRECVDATA=0,2048", "\r\n+CIPRECVDATA,"+strconv.Itoa(n)+":"+body[len(got):len(got)+n]+"\r\nOK\r\n")
		got += body[len(got) : len(got)+n]
	}
	r.cmd("AT+CIPRECVLEN?", "+CIPRECVLEN:"+strconv.Itoa(len(body)-len(got))+",0,0,0,0\r\n\r\nOK\r\n")
	if n := r.emu.Stats().Faults[FaultShortRead]; n != 5 {
		t.Errorf("short-read fired %d times, want 5", n)
	}
}

// TestFaultLateSendFail: 1.x prints SEND FAIL right after SEND OK for one
// send; the data was sent and the link stays. 2.x ignores the fault.
func TestFaultLateSendFail(t *testing.T) {
	for _, fw := range []Firmware{Firmware17, Firmware22} {
		t.Run(string(fw), func(t *testing.T) {
			r := start(t, Config{Firmware: fw, Joined: true, Faults: []Fault{FaultLateSendFail}})
			r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
			r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
			p := newPeer(t)
			c := r.connect(p, 0)
			prompt, verdict := "\r\nOK\r\n\r\n>", "\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n"
			if fw == Firmware17 {
				prompt, verdict = "\r\nOK\r\n> ", "\r\nRecv 4 bytes\r\n\r\nSEND OK\r\nSEND FAIL\r\n"
			}
			r.cmd("AT+CIPSEND=0,4", prompt)
			r.send("data")
			r.expect(verdict)
			if got := readN(t, c, 4); got != "data" {
				t.Fatalf("peer got %q", got)
			}
			r.quiet(50 * time.Millisecond)
			c.Write([]byte("up"))
			r.expect("\r\n+IPD,0,2:up")
		})
	}
}

// TestFaultErrorBeforeClosed: CIPSEND answered by the refusal first, then
// the link's CLOSED, no prompt.
func TestFaultErrorBeforeClosed(t *testing.T) {
	for _, fw := range []Firmware{Firmware17, Firmware22} {
		t.Run(string(fw), func(t *testing.T) {
			r := start(t, Config{Firmware: fw, Joined: true, Faults: []Fault{FaultErrorBeforeClosed}, FaultRate: 1})
			r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
			r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
			c := r.connect(newPeer(t), 0)
			want := "\r\nERROR\r\n0,CLOSED\r\n"
			if fw == Firmware17 {
				want = "link is not valid\r\n\r\nERROR\r\n0,CLOSED\r\n"
			}
			r.cmd("AT+CIPSEND=0,3", want)
			expectEOF(t, c)
		})
	}
}
