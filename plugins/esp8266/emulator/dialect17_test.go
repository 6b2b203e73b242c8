package emulator

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestBoot17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17})
	r.expect("\r\nready\r\n")
	r.quiet(50 * time.Millisecond)

	j := start(t, Config{Firmware: Firmware17, Joined: true})
	j.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
}

func TestLineDiscipline17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17})
	r.expect("\r\nready\r\n")
	r.send("AT\r\n")
	r.expect("AT\r\r\n\r\nOK\r\n")
	// Bytes before the AT head are echoed and discarded.
	r.send("xyAT\r\n")
	r.expect("xyAT\r\r\n\r\nOK\r\n")
	// A lone line end at idle is an error.
	r.send("\r\n")
	r.expect("\r\r\nERROR\r\n")
	r.cmd("AT+NOSUCH", "\r\nERROR\r\n")
	r.cmd("AT+gmr", "\r\nERROR\r\n")
	// ATE0 still echoes itself; then nothing is echoed.
	r.cmd("ATE0", "\r\nOK\r\n")
	r.send("AT\r\n")
	r.expect("\r\nOK\r\n")
	r.send("ATE1\r\n")
	r.expect("\r\nOK\r\n")
	r.cmd("AT", "\r\nOK\r\n")
}

func TestGMR17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17})
	r.expect("\r\nready\r\n")
	r.cmd("AT+GMR", "AT version:1.7.0.0(Aug 16 2018 00:57:04)\r\nSDK version:3.0.0(d49923c)\r\n"+
		"compile time:Aug 23 2018 16:58:12\r\nBin version(Wroom 02):v1.7.0\r\nOK\r\n")
}

func TestWiFi17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, SSID: "home", Password: "secret"})
	r.expect("\r\nready\r\n")
	r.cmd("AT+CWMODE_CUR?", "+CWMODE_CUR:1\r\n\r\nOK\r\n")
	r.cmd("AT+CWMODE_CUR=1", "\r\nOK\r\n")
	r.cmd("AT+CWMODE=?", "+CWMODE:(1-3)\r\n\r\nOK\r\n")
	r.cmd("AT+CWMODE_CUR=0", "\r\nERROR\r\n")
	r.cmd("AT+CWJAP_CUR?", "No AP\r\n\r\nOK\r\n")
	r.cmd("AT+CIFSR", "+CIFSR:STAIP,\"0.0.0.0\"\r\n+CIFSR:STAMAC,\"5c:cf:7f:80:26:6a\"\r\n\r\nOK\r\n")
	r.cmd(`AT+CWJAP_CUR="home","wrong"`, "+CWJAP:2\r\n\r\nFAIL\r\n")
	r.cmd(`AT+CWJAP_CUR="other","secret"`, "+CWJAP:3\r\n\r\nFAIL\r\n")
	r.cmd(`AT+CWJAP_CUR="home","secret"`, "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n")
	r.cmd("AT+CWJAP_CUR?", "+CWJAP_CUR:\"home\",\"30:23:03:b8:00:5e\",6,-58,0\r\n\r\nOK\r\n")
	r.cmd("AT+CIFSR", "+CIFSR:STAIP,\"192.168.4.2\"\r\n+CIFSR:STAMAC,\"5c:cf:7f:80:26:6a\"\r\n\r\nOK\r\n")
	r.cmd("AT+CIPSTA_CUR?", "+CIPSTA_CUR:ip:\"192.168.4.2\"\r\n+CIPSTA_CUR:gateway:\"192.168.4.1\"\r\n"+
		"+CIPSTA_CUR:netmask:\"255.255.255.0\"\r\n\r\nOK\r\n")
	r.cmd("AT+CIPSTATUS", "STATUS:2\r\n\r\nOK\r\n")
	r.cmd("AT+CWQAP", "\r\nOK\r\nWIFI DISCONNECT\r\n")
	r.cmd("AT+CIPSTATUS", "STATUS:5\r\n\r\nOK\r\n")
	r.cmd(`AT+CIPSTART="TCP","127.0.0.1",80`, "no ip\r\n\r\nERROR\r\n")
}

func TestClient17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	p := newPeer(t)
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	r.cmd("AT+CIPMUX?", "+CIPMUX:1\r\n\r\nOK\r\n")
	c := r.connect(p, 0)
	r.cmd("AT+CIPMUX=0", "link is builded\r\n\r\nERROR\r\n")

	r.sendData(0, "hello\r\nAT")
	if got := readN(t, c, 9); got != "hello\r\nAT" {
		t.Fatalf("peer got %q", got)
	}
	// +IPD payloads are binary and may contain anything.
	c.Write([]byte("world\r\nOK\r\n"))
	r.expect("\r\n+IPD,0,11:world\r\nOK\r\n")

	r.cmd("AT+CIPDINFO=1", "\r\nOK\r\n")
	r.cmd("AT+CIPDINFO?", "+CIPDINFO:TRUE\r\n\r\nOK\r\n")
	c.Write([]byte("x"))
	r.expect(fmt.Sprintf("\r\n+IPD,0,1,127.0.0.1,%d:x", p.port()))
	r.cmd("AT+CIPDINFO=0", "\r\nOK\r\n")

	r.cmd("AT+CIPSTATUS", fmt.Sprintf("STATUS:3\r\n+CIPSTATUS:0,\"TCP\",\"127.0.0.1\",%d,%d,0\r\n\r\nOK\r\n",
		p.port(), remotePort(c)))

	// Errors, with the 1.x reasons on the AT port.
	r.cmd(startLine(0, "127.0.0.1", p.port()), "ALREADY CONNECTED\r\n\r\nERROR\r\n")
	r.cmd("AT+CIPSEND=1,5", "link is not valid\r\n\r\nERROR\r\n")
	r.cmd("AT+CIPSEND=0,2049", "too long\r\n\r\nERROR\r\n")
	r.cmd("AT+CIPSEND=5", "\r\nERROR\r\n")
	r.cmd("AT+CIPCLOSE=1", "UNLINK\r\n\r\nERROR\r\n")
	r.cmd("AT+CIPSTART=5,\"TCP\",\"127.0.0.1\",80", "ID ERROR\r\n\r\nERROR\r\n")
	r.cmd(startLine(1, "127.0.0.1", closedPort(t)), "\r\nERROR\r\n1,CLOSED\r\n")

	// The peer closes.
	c.Close()
	r.expect("0,CLOSED\r\n")
	r.cmd("AT+CIPSTATUS", "STATUS:4\r\n\r\nOK\r\n")
	r.cmd("AT+CIPCLOSE=0", "UNLINK\r\n\r\nERROR\r\n")

	// Local close.
	c2 := r.connect(p, 2)
	r.cmd("AT+CIPCLOSE=2", "2,CLOSED\r\n\r\nOK\r\n")
	expectEOF(t, c2)
}

func TestSingleMode17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	p := newPeer(t)
	c := r.connect(p, -1)
	r.cmd("AT+CIPSEND=3", "\r\nOK\r\n> ")
	r.send("abc")
	r.expect("\r\nRecv 3 bytes\r\n\r\nSEND OK\r\n")
	if got := readN(t, c, 3); got != "abc" {
		t.Fatalf("peer got %q", got)
	}
	c.Write([]byte("xyz"))
	r.expect("\r\n+IPD,3:xyz")
	r.cmd("AT+CIPCLOSE=0", "MUX=0\r\n\r\nERROR\r\n")
	r.cmd("AT+CIPCLOSE", "CLOSED\r\n\r\nOK\r\n")
	expectEOF(t, c)
}

func TestBusy17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	p := newPeer(t)
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	// A line sent while CIPSTART runs is echoed (1.x echoes in the receive
	// task) and dropped with busy p...
	line := startLine(0, "127.0.0.1", p.port())
	r.send(line + "\r\nAT\r\n")
	r.expect(line + "\r\r\nAT\r\r\nbusy p...\r\n0,CONNECT\r\n\r\nOK\r\n")
	p.accept()
	// Between the payload and SEND OK it is busy s...
	r.cmd("AT+CIPSEND=0,2", "\r\nOK\r\n> ")
	r.send("hiAT\r\n")
	r.expect("\r\nRecv 2 bytes\r\nAT\r\r\nbusy s...\r\n\r\nSEND OK\r\n")
	r.cmd("AT", "\r\nOK\r\n")
	if st := r.emu.Stats(); st.BusyReplies != 2 {
		t.Fatalf("busy replies = %d, want 2", st.BusyReplies)
	}
}

func TestPassive17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	p := newPeer(t)
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	r.cmd("AT+CIPRECVMODE=1", "\r\nOK\r\n")
	r.cmd("AT+CIPRECVMODE?", "+CIPRECVMODE:1\r\n\r\nOK\r\n")
	c := r.connect(p, 0)
	c.Write([]byte("abc"))
	r.expect("\r\n+IPD,0,3\r\n")
	// 1.7 prints a notice per segment with the running total.
	c.Write([]byte("defg"))
	r.expect("\r\n+IPD,0,7\r\n")
	r.cmd("AT+CIPRECVLEN?", "+CIPRECVLEN:7,0,0,0,0\r\n\r\nOK\r\n")
	r.cmd("AT+CIPRECVDATA=0,5", "\r\n+CIPRECVDATA,5:abcde\r\nOK\r\n")
	// 1.x reports CLOSED at once; the data stays readable.
	c.Close()
	r.expect("0,CLOSED\r\n")
	r.cmd("AT+CIPRECVLEN?", "+CIPRECVLEN:2,0,0,0,0\r\n\r\nOK\r\n")
	r.cmd("AT+CIPRECVDATA=0,100", "\r\n+CIPRECVDATA,2:fg\r\nOK\r\n")
	r.cmd("AT+CIPRECVLEN?", "+CIPRECVLEN:0,0,0,0,0\r\n\r\nOK\r\n")
	r.cmd("AT+CIPRECVDATA=0,100", "\r\nERROR\r\n")
}

func TestDomain17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	r.cmd(`AT+CIPDOMAIN="localhost"`, "+CIPDOMAIN:127.0.0.1\r\n\r\nOK\r\n")
	// CIPSTART resolves names itself.
	p := newPeer(t)
	r.cmd(startLine(-1, "localhost", p.port()), "CONNECT\r\n\r\nOK\r\n")
	p.accept()
}

func TestReset17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	p := newPeer(t)
	r.cmd("AT+CIPMUX=1", "\r\nOK\r\n")
	c := r.connect(p, 0)
	r.cmd("ATE0", "\r\nOK\r\n")
	r.send("AT+RST\r\n")
	r.expect("\r\nOK\r\n")
	boot := r.until("\r\nready\r\n")
	if !strings.Contains(boot, "rst cause:2, boot mode:(3,6)") {
		t.Fatalf("boot output lacks the ROM line: %q", boot)
	}
	// Autoconnect (stored AP) after ready.
	r.expect("WIFI CONNECTED\r\nWIFI GOT IP\r\n")
	expectEOF(t, c)
	// Settings are back to power-up defaults: echo on, CIPMUX=0.
	r.cmd("AT+CIPMUX?", "+CIPMUX:0\r\n\r\nOK\r\n")
	if st := r.emu.Stats(); st.Resets != 1 {
		t.Fatalf("resets = %d, want 1", st.Resets)
	}
}

func TestUART17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17})
	r.expect("\r\nready\r\n")
	r.cmd("AT+UART_CUR?", fmt.Sprintf("+UART_CUR:%d,8,1,0,0\r\nOK\r\n", fastBaud))
	r.cmd("AT+UART_CUR=4000000,8,1,0,0", "\r\nOK\r\n")
	r.cmd("AT+UART_CUR?", "+UART_CUR:4000000,8,1,0,0\r\nOK\r\n")
}

func remotePort(c net.Conn) int { return c.RemoteAddr().(*net.TCPAddr).Port }

// TestSplitLine17: a line that arrives in pieces keeps its echo whole; an
// event in between goes out before it (only the interleave fault splits it).
func TestSplitLine17(t *testing.T) {
	r := start(t, Config{Firmware: Firmware17, Joined: true})
	r.expect("\r\nready\r\nWIFI CONNECTED\r\nWIFI GOT IP\r\n")
	p := newPeer(t)
	c := r.connect(p, -1)
	r.send("AT+CIPST")
	c.Write([]byte("x"))
	r.expect("\r\n+IPD,1:x")
	r.send("ATUS\r\n")
	r.expect(fmt.Sprintf("AT+CIPSTATUS\r\r\nSTATUS:3\r\n+CIPSTATUS:0,\"TCP\",\"127.0.0.1\",%d,%d,0\r\n\r\nOK\r\n", p.port(), remotePort(c)))
}
