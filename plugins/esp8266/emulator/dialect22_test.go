package emulator

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const joined22 = "\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n"

func TestLineDiscipline22(t *testing.T) {
	r := start(t, Config{})
	r.expect("\r\nready\r\n")
	r.send("AT\r\n")
	r.expect("AT\r\n\r\nOK\r\n")
	r.cmd("at", "\r\nERROR\r\n")
	r.send("AT\n")
	r.expect("AT\n\r\nERROR\r\n")
	r.cmd("AT+NOSUCH", "\r\nERROR\r\n")
	r.cmd("AT+CWMODE_CUR?", "\r\nERROR\r\n")
	r.cmd("ATE0", "\r\nOK\r\n")
	r.send("AT\r\n")
	r.expect("\r\nOK\r\n")
	r.send("ATE1\r\n")
	r.expect("\r\nOK\r\n")
	// AT+SYSLOG=1 adds the ERR CODE line.
	r.cmd("AT+SYSLOG=1", "\r\nOK\r\n")
	r.cmd("AT+NOSUCH", "ERR CODE:0x01090000\r\n\r\nERROR\r\n")
}

func TestGMR22(t *testing.T) {
	r := start(t, Config{Firmware: Firmware22})
	r.expect("\r\nready\r\n")
	r.cmd("AT+GMR", "AT version:2.2.0.0(b097cdf - ESP8266 - Jun 17 2021 12:57:45)\r\nSDK version:v3.4-22-g967752e2\r\n"+
		"compile time(6800286):Aug  4 2021 17:20:05\r\nBin version:2.2.0(WROOM-02)\r\n\r\nOK\r\n")
}

func TestWiFi22(t *testing.T) {
	r := start(t, Config{SSID: "home", Password: "secret"})
	r.expect("\r\nready\r\n")
	r.cmd("AT+CWMODE?", "+CWMODE:1\r\n\r\nOK\r\n")
	r.cmd("AT+CWJAP?", "\r\nOK\r\n")
	r.cmd(`AT+CWJAP="home","wrong"`, "+CWJAP:2\r\n\r\nERROR\r\n")
	r.cmd(`AT+CWJAP="nope","secret"`, "+CWJAP:3\r\n\r\nERROR\r\n")
	r.cmd(`AT+CWJAP="home","secret"`, "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")
	r.cmd("AT+CWJAP?", "+CWJAP:\"home\",\"30:23:03:b8:00:5e\",6,-58,0,0,0,0,0\r\n\r\nOK\r\n")
	r.cmd("AT+CIPSTA?", "+CIPSTA:ip:\"192.168.4.2\"\r\n+CIPSTA:gateway:\"192.168.4.1\"\r\n"+
		"+CIPSTA:netmask:\"255.255.255.0\"\r\n\r\nOK\r\n")
	// Joining again while joined disconnects first.
	r.cmd(`AT+CWJAP="home","secret"`, "WIFI DISCONNECT\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")
}

func TestClient22(t *testing.T) {
	r := start(t, Config{Joined: true})
	r.expect(joined22)
	p := newPeer(t)
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	c := r.connect(p, 3)
	r.cmd("AT+CIPSEND=3,4", "\r\nOK\r\n\r\n>")
	r.send("ping")
	r.expect("\r\nRecv 4 bytes\r\n\r\nSEND OK\r\n")
	if got := readN(t, c, 4); got != "ping" {
		t.Fatalf("peer got %q", got)
	}
	c.Write([]byte("pong"))
	r.expect("\r\n+IPD,3,4:pong")
	r.cmd("AT+CIPDINFO=1", "\r\nOK\r\n")
	r.cmd("AT+CIPDINFO?", "+CIPDINFO:true\r\n\r\nOK\r\n")
	c.Write([]byte("q"))
	r.expect(fmt.Sprintf("\r\n+IPD,3,1,\"127.0.0.1\",%d:q", p.port()))

	r.cmd("AT+CIPSTATE?", fmt.Sprintf("+CIPSTATE:3,\"TCP\",\"127.0.0.1\",%d,%d,0\r\n\r\nOK\r\n", p.port(), remotePort(c)))
	r.cmd("AT+CIPRECVLEN?", "+CIPRECVLEN:-1,-1,-1,0,-1\r\n\r\nOK\r\n")

	// 2.x prints the reasons on its console only.
	r.cmd(startLine(3, "127.0.0.1", p.port()), "\r\nERROR\r\n")
	r.cmd("AT+CIPSEND=0,5", "\r\nERROR\r\n")
	r.cmd("AT+CIPSEND=3,2049", "\r\nERROR\r\n")
	r.cmd("AT+CIPCLOSE=0", "\r\nERROR\r\n")
	r.cmd(startLine(0, "127.0.0.1", closedPort(t)), "\r\nERROR\r\n0,CLOSED\r\n")

	r.cmd("AT+CIPCLOSE=3", "3,CLOSED\r\n\r\nOK\r\n")
	expectEOF(t, c)
	r.cmd("AT+CIPCLOSE=3", "\r\nERROR\r\n")

	// Closing everything with id 5.
	a := r.connect(p, 0)
	b := r.connect(p, 1)
	r.cmd("AT+CIPCLOSE=5", "0,CLOSED\r\n1,CLOSED\r\n\r\nOK\r\n")
	expectEOF(t, a)
	expectEOF(t, b)
}

func TestBusy22(t *testing.T) {
	r := start(t, Config{Joined: true})
	r.expect(joined22)
	p := newPeer(t)
	// A line sent while CIPSTART runs is neither echoed nor queued.
	line := startLine(-1, "127.0.0.1", p.port())
	r.send(line + "\r\nAT\r\n")
	r.expect(line + "\r\n\r\nbusy p...\r\nCONNECT\r\n\r\nOK\r\n")
	p.accept()
	r.cmd("AT+CIPSEND=2", "\r\nOK\r\n\r\n>")
	r.send("hiAT\r\n")
	r.expect("\r\nRecv 2 bytes\r\n\r\nbusy p...\r\n\r\nSEND OK\r\n")
	// CWJAP is busy too.
	r.send("AT+CWJAP=\"x\",\"y\"\r\nAT+GMR\r\n")
	r.expect("AT+CWJAP=\"x\",\"y\"\r\nWIFI DISCONNECT\r\nCLOSED\r\n\r\nbusy p...\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")
}

func TestPassive22(t *testing.T) {
	r := start(t, Config{Joined: true})
	r.expect(joined22)
	p := newPeer(t)
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	r.cmd("AT+CIPRECVMODE=1", "\r\nOK\r\n")
	c := r.connect(p, 0)
	c.Write([]byte("abc"))
	r.expect("\r\n+IPD,0,3\r\n")
	// One notice, then none until the host reads.
	c.Write([]byte("defg"))
	deadline := time.Now().Add(waitTime)
	for {
		r.send("AT+CIPRECVLEN?\r\n")
		got := r.until("\r\nOK\r\n")
		if strings.Contains(got, "+CIPRECVLEN:7,") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("buffered length never reached 7: %q", got)
		}
	}
	r.cmd("AT+CIPRECVDATA=0,5", "+CIPRECVDATA:5,abcde\r\nOK\r\n\r\n+IPD,0,2\r\n")
	r.cmd("AT+CIPDINFO=1", "\r\nOK\r\n")
	r.cmd("AT+CIPRECVDATA=0,5", fmt.Sprintf("+CIPRECVDATA:2,\"127.0.0.1\",%d,fg\r\nOK\r\n", p.port()))
	r.cmd("AT+CIPRECVDATA=0,5", "\r\nERROR\r\n")

	// 2.x withholds CLOSED until the buffer has been read.
	c.Write([]byte("last"))
	r.expect("\r\n+IPD,0,4\r\n")
	c.Close()
	r.quiet(100 * time.Millisecond)
	r.cmd("AT+CIPRECVLEN?", "+CIPRECVLEN:4,-1,-1,-1,-1\r\n\r\nOK\r\n")
	r.cmd("AT+CIPDINFO=0", "\r\nOK\r\n")
	r.cmd("AT+CIPRECVDATA=0,100", "+CIPRECVDATA:4,last\r\nOK\r\n0,CLOSED\r\n")

	// ... or until CIPCLOSE.
	c2 := r.connect(p, 1)
	c2.Write([]byte("zz"))
	r.expect("\r\n+IPD,1,2\r\n")
	c2.Close()
	r.quiet(100 * time.Millisecond)
	r.cmd("AT+CIPCLOSE=1", "1,CLOSED\r\n\r\nOK\r\n")
}

// TestPassiveFlowControl22 checks that a full receive buffer stops the
// emulator from reading the socket, and that nothing is lost.
func TestPassiveFlowControl22(t *testing.T) {
	r := start(t, Config{Joined: true})
	r.expect(joined22)
	p := newPeer(t)
	r.cmd("AT+CIPRECVMODE=1", "\r\nOK\r\n")
	c := r.connect(p, -1)
	const total = 20000
	payload := make([]byte, total)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	go c.Write(payload)
	r.until("\r\n+IPD,")
	r.until("\r\n")
	time.Sleep(100 * time.Millisecond)
	r.cmd("AT+CIPRECVLEN?", "+CIPRECVLEN:5760,-1,-1,-1,-1\r\n\r\nOK\r\n")
	var got []byte
	for len(got) < total {
		r.send("AT+CIPRECVDATA=2048\r\n")
		r.expect("AT+CIPRECVDATA=2048\r\n+CIPRECVDATA:")
		head := r.until(",")
		var n int
		fmt.Sscanf(head, "%d,", &n)
		r.fill(n, time.Now().Add(waitTime))
		got = append(got, r.pending[:n]...)
		r.pending = r.pending[n:]
		r.expect("\r\nOK\r\n")
		// A fresh notice follows each partial read; drain notices.
		for {
			if !r.fill(1, time.Now().Add(20*time.Millisecond)) {
				break
			}
			r.until("\r\n+IPD,")
			r.until("\r\n")
		}
	}
	if string(got) != string(payload) {
		t.Fatal("passive data corrupted or reordered")
	}
}

func TestDomain22(t *testing.T) {
	r := start(t, Config{Joined: true})
	r.expect(joined22)
	r.cmd(`AT+CIPDOMAIN="localhost"`, "+CIPDOMAIN:\"127.0.0.1\"\r\n\r\nOK\r\n")
	r.cmd(`AT+CIPDOMAIN="127.0.0.1"`, "+CIPDOMAIN:\"127.0.0.1\"\r\n\r\nOK\r\n")
}
