package emulator

import (
	"fmt"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	for _, fw := range []Firmware{Firmware17, Firmware22} {
		t.Run(string(fw), func(t *testing.T) {
			r := start(t, Config{Firmware: fw, Joined: true, AnyHostPort: true})
			r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
			r.cmd("AT+CIPSERVER=1,333", "\r\nERROR\r\n") // CIPMUX=1 first
			r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
			r.cmd("AT+CIPSERVER=1,333", "\r\nOK\r\n")
			if fw == Firmware17 {
				r.cmd("AT+CIPSERVER=1,333", "no change\r\n\r\nOK\r\n")
			} else {
				r.cmd("AT+CIPSERVER?", "+CIPSERVER:1,333,\"TCP\"\r\n\r\nOK\r\n")
			}
			r.cmd("AT+CIPSERVERMAXCONN=2", "\r\nERROR\r\n") // server already running
			r.cmd("AT+CIPMUX=0", map[Firmware]string{Firmware17: "CIPSERVER must be 0\r\n\r\nERROR\r\n", Firmware22: "\r\nERROR\r\n"}[fw])

			c := dialServer(t, r.emu)
			r.expect("0,CONNECT\r\n")
			c.Write([]byte("GET /"))
			r.expect("\r\n+IPD,0,5:GET /")
			r.sendData(0, "200 OK")
			if got := readN(t, c, 6); got != "200 OK" {
				t.Fatalf("client got %q", got)
			}
			c2 := dialServer(t, r.emu)
			r.expect("1,CONNECT\r\n")
			r.cmd("AT+CIPSTATUS", fmt.Sprintf("STATUS:3\r\n"+
				"+CIPSTATUS:0,\"TCP\",\"127.0.0.1\",%d,333,1\r\n"+
				"+CIPSTATUS:1,\"TCP\",\"127.0.0.1\",%d,333,1\r\n\r\nOK\r\n", peerPort(c), peerPort(c2)))
			c.Close()
			r.expect("0,CLOSED\r\n")
			// The lowest free id is reused.
			dialServer(t, r.emu)
			r.expect("0,CONNECT\r\n")
			r.cmd("AT+CIPSERVER=0", "\r\nOK\r\n")
			if r.emu.ServerAddr() != nil {
				t.Fatal("server address still set after AT+CIPSERVER=0")
			}
		})
	}
}

// TestServerFull refuses a sixth client by closing it.
func TestServerFull(t *testing.T) {
	r := start(t, Config{Joined: true, AnyHostPort: true})
	r.expect(joined22)
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	r.cmd("AT+CIPSERVERMAXCONN=2", "\r\nOK\r\n")
	r.cmd("AT+CIPSERVERMAXCONN?", "+CIPSERVERMAXCONN:2\r\n\r\nOK\r\n")
	r.cmd("AT+CIPSERVER=1,333", "\r\nOK\r\n")
	dialServer(t, r.emu)
	r.expect("0,CONNECT\r\n")
	dialServer(t, r.emu)
	r.expect("1,CONNECT\r\n")
	expectEOF(t, dialServer(t, r.emu))
	r.quiet(50 * time.Millisecond)
}

func TestServerIdleTimeout(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true, AnyHostPort: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	r.cmd("AT+CIPSTO?", "+CIPSTO:180\r\n\r\nOK\r\n")
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	r.cmd("AT+CIPSERVER=1,333", "\r\nOK\r\n")
	r.cmd("AT+CIPSTO=1", "\r\nOK\r\n")
	c := dialServer(t, r.emu)
	r.expect("0,CONNECT\r\n")
	start := time.Now()
	r.expect("0,CLOSED\r\n")
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("idle link closed after %v, want about 1s", d)
	}
	expectEOF(t, c)
}
