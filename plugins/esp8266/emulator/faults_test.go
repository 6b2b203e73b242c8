package emulator

import (
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	got, err := ParseFaults(" busy, reset,,interleave ")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != FaultBusy || got[1] != FaultReset || got[2] != FaultInterleave {
		t.Fatalf("ParseFaults = %v", got)
	}
	_, err = ParseFaults("busy,flaky")
	if err == nil || !strings.Contains(err.Error(), `"flaky"`) || !strings.Contains(err.Error(), "closed-before-prompt, dns-fail") {
		t.Fatalf("error %v should name the bad fault and list the valid ones", err)
	}
	if _, err := New(Config{Faults: []Fault{"nope"}}); err == nil {
		t.Fatal("New accepted an unknown fault")
	}
	if _, err := New(Config{Firmware: "3.0"}); err == nil || !strings.Contains(err.Error(), "1.7") {
		t.Fatalf("New(firmware 3.0) error = %v", err)
	}
}

// TestFaultBusy: with the default rate a busy reply still shows up within
// the first three command lines.
func TestFaultBusy(t *testing.T) {
	for _, fw := range []Firmware{Firmware17, Firmware22} {
		t.Run(string(fw), func(t *testing.T) {
			r := start(t, Config{Firmware: fw, Faults: []Fault{FaultBusy}, Seed: 1})
			r.expect("\r\nready\r\n")
			busy := 0
			for i := 0; i < 3; i++ {
				r.send("AT\r\n")
				out := r.untilAny("\r\nOK\r\n", "busy p...\r\n")
				if strings.Contains(out, "busy p...") {
					busy++
				}
			}
			if busy == 0 || r.emu.Stats().Faults[FaultBusy] == 0 {
				t.Fatal("busy fault never fired")
			}
		})
	}
}

func TestFaultReset(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true, Faults: []Fault{FaultReset}, FaultRate: 1})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	p := newPeer(t)
	c := r.connect(p, -1)
	r.cmd("AT+CIPSEND=4", "\r\nOK\r\n> ")
	r.send("data")
	r.expect("\r\nRecv 4 bytes\r\n")
	boot := r.until("\r\nready\r\n")
	if !containsAll(boot, "rst cause:4", "wdt reset") || strings.Contains(boot, "SEND OK") {
		t.Fatalf("boot output after the reset: %q", boot)
	}
	expectEOF(t, c)
	r.expect("WIFI CONNECTED\r\nWIFI GOT IP\r\n")
	r.cmd("AT+CIPSTATUS", "STATUS:2\r\n\r\nOK\r\n")

	// While +IPD data flows.
	c = r.connect(p, -1)
	c.Write([]byte("incoming"))
	r.expect("\r\n+IPD,8:incoming")
	r.until("\r\nready\r\n")
	expectEOF(t, c)
	if n := r.emu.Stats().Faults[FaultReset]; n != 2 {
		t.Fatalf("reset faults = %d, want 2", n)
	}
}

func TestFaultGarbage(t *testing.T) {
	r := start(t, Config{Faults: []Fault{FaultGarbage}, FaultRate: 1, Seed: 7})
	r.expect("\r\nready\r\n")
	r.send("AT\r\n")
	r.expect("AT\r\n")
	out := r.until("\r\nOK\r\n")
	noise := strings.TrimSuffix(out, "\r\nOK\r\n")
	if noise == "" || !strings.HasSuffix(noise, "\r\n") {
		t.Fatalf("no noise line before OK: %q", out)
	}
	for _, bad := range []string{"OK", "ERROR", "CONNECT", "CLOSED", "+IPD", ">", "busy", "ready"} {
		if strings.Contains(noise, bad) {
			t.Fatalf("noise %q looks like a message (%s)", noise, bad)
		}
	}
	// Never inside +IPD payloads.
	r2 := start(t, Config{Joined: true, Faults: []Fault{FaultGarbage}, FaultRate: 1})
	r2.expect(joined22)
	p := newPeer(t)
	r2.send(startLine(-1, "127.0.0.1", p.port()) + "\r\n")
	r2.until("CONNECT\r\n")
	r2.until("\r\nOK\r\n")
	c := p.accept()
	c.Write([]byte("payload"))
	r2.until("\r\n+IPD,7:")
	r2.expect("payload")
}

func TestFaultClosedBeforePrompt(t *testing.T) {
	for _, fw := range []Firmware{Firmware17, Firmware22} {
		t.Run(string(fw), func(t *testing.T) {
			r := start(t, Config{Firmware: fw, Joined: true, Faults: []Fault{FaultClosedBeforePrompt}, FaultRate: 1})
			r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
			p := newPeer(t)
			r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
			c := r.connect(p, 0)
			want := "0,CLOSED\r\n\r\nERROR\r\n"
			if fw == Firmware17 {
				want = "0,CLOSED\r\nlink is not valid\r\n\r\nERROR\r\n"
			}
			r.cmd("AT+CIPSEND=0,3", want)
			expectEOF(t, c)
		})
	}
}

func TestFaultSendFail(t *testing.T) {
	r := start(t, Config{Joined: true, Faults: []Fault{FaultSendFail}, FaultRate: 1})
	r.expect(joined22)
	p := newPeer(t)
	c := r.connect(p, -1)
	r.cmd("AT+CIPSEND=4", "\r\nOK\r\n\r\n>")
	r.send("lost")
	r.expect("\r\nRecv 4 bytes\r\n\r\nSEND FAIL\r\n")
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(make([]byte, 4)); err == nil || n > 0 {
		t.Fatalf("peer received %d bytes of a failed send (err %v)", n, err)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("link went down: %v", err)
	}
	// The link stays up.
	c.Write([]byte("still"))
	r.expect("\r\n+IPD,5:still")
}

func TestFaultDNSFail(t *testing.T) {
	for _, fw := range []Firmware{Firmware17, Firmware22} {
		t.Run(string(fw), func(t *testing.T) {
			r := start(t, Config{Firmware: fw, Joined: true, Faults: []Fault{FaultDNSFail}})
			r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
			fail := "\r\nERROR\r\n"
			if fw == Firmware17 {
				fail = "DNS Fail\r\n\r\nERROR\r\n"
			}
			p := newPeer(t)
			r.cmd(startLine(-1, "localhost", p.port()), fail)
			r.cmd(`AT+CIPDOMAIN="localhost"`, fail)
			// IP literals are not looked up.
			r.connect(p, -1)
		})
	}
}

func TestFaultInterleave(t *testing.T) {
	t.Run("1.7 echo", func(t *testing.T) {
		r := start(t, Config{Firmware: Firmware17, Joined: true, Faults: []Fault{FaultInterleave},
			Latency: 50 * time.Millisecond, AnyHostPort: true})
		r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
		p := newPeer(t)
		r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
		r.connect(p, 0)
		r.cmd("AT+CIPSERVER=1,333", "\r\nOK\r\n")
		dialServer(t, r.emu)
		time.Sleep(100 * time.Millisecond) // the accept is held, not printed
		r.send("AT+CIPSEND=0,98\r\n")
		r.expect("AT+CIPSEND=0,1,CONNECT\r\n98\r\r\n\r\nOK\r\n> ")
	})
	t.Run("2.2 prompt", func(t *testing.T) {
		r := start(t, Config{Joined: true, Faults: []Fault{FaultInterleave},
			Latency: 50 * time.Millisecond, AnyHostPort: true})
		r.expect(joined22)
		p := newPeer(t)
		r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
		c := r.connect(p, 0)
		r.cmd("AT+CIPSERVER=1,333", "\r\nOK\r\n")
		dialServer(t, r.emu)
		time.Sleep(100 * time.Millisecond)
		r.cmd("AT+CIPSEND=0,2", "\r\nOK\r\n\r\n>1,CONNECT\r\n")
		c.Write([]byte("in"))
		time.Sleep(100 * time.Millisecond) // the data is held
		r.send("ok")
		r.expect("\r\nRecv 2 bytes\r\n\r\n+IPD,0,2:in\r\nSEND OK\r\n")
		if r.emu.Stats().Faults[FaultInterleave] != 2 {
			t.Fatalf("interleave count = %d, want 2", r.emu.Stats().Faults[FaultInterleave])
		}
	})
}
