package esp8266

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"testing/iotest"
)

// tokenize runs the tokenizer over in until the end and renders each token
// as a short string, for comparisons.
func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func tokenize(in []byte, dinfo bool, r func(io.Reader) io.Reader) ([]string, error) {
	var src io.Reader = bytes.NewReader(in)
	if r != nil {
		src = r(src)
	}
	t := newTokenizer(src)
	t.recvDataInfo.Store(dinfo)
	var out []string
	for {
		tok, err := t.next()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, render(tok))
	}
}

func render(t token) string {
	switch t.kind {
	case tokLine:
		return fmt.Sprintf("line %q", t.text)
	case tokIPD, tokRecvData:
		s := fmt.Sprintf("%s id=%d %q", t.kind, t.id, t.data)
		if t.addr.IsValid() {
			s += " from " + t.addr.String()
		}
		return s
	case tokIPDNotice:
		return fmt.Sprintf("%s id=%d n=%d", t.kind, t.id, t.n)
	case tokRecvBytes:
		return fmt.Sprintf("Recv %d", t.n)
	case tokConnect, tokClosed, tokConnectFail:
		return fmt.Sprintf("%s id=%d", t.kind, t.id)
	case tokLinkConn:
		return fmt.Sprintf("%s id=%d from %s", t.kind, t.id, t.addr)
	}
	return t.kind.String()
}

// The byte sequences come from esp-at-reference.md (sections 1-5 and the
// appendix), both dialects.
var tokenizerCases = []struct {
	name  string
	in    string
	dinfo bool
	want  []string
}{
	{"ok with leading crlf", "\r\nOK\r\n", false, []string{"OK"}},
	{"1.x echo AT", "AT\r\r\n\r\nOK\r\n", false, []string{`line "AT"`, "OK"}},
	{"2.x echo and ERR CODE", "AT+FOO\r\nERR CODE:0x01090000\r\n\r\nERROR\r\n", false,
		[]string{`line "AT+FOO"`, "ERR CODE", "ERROR"}},
	{"1.7 GMR no blank line", "AT version:1.7.0.0(Aug 16 2018 00:57:04)\r\nSDK version:3.0.0(d49923c)\r\ncompile time:Aug 23 2018 16:58:12\r\nBin version(Wroom 02):v1.7.0\r\nOK\r\n", false,
		[]string{`line "AT version:1.7.0.0(Aug 16 2018 00:57:04)"`, `line "SDK version:3.0.0(d49923c)"`, `line "compile time:Aug 23 2018 16:58:12"`, `line "Bin version(Wroom 02):v1.7.0"`, "OK"}},
	{"1.x prompt with space", "\r\nOK\r\n> ", false, []string{"OK", "prompt"}},
	{"1.x prompt then next message", "\r\nOK\r\n> \r\nRecv 5 bytes\r\n\r\nSEND OK\r\n", false,
		[]string{"OK", "prompt", "Recv 5", "SEND OK"}},
	{"2.x prompt", "\r\nOK\r\n\r\n>\r\nRecv 5 bytes\r\n\r\nSEND OK\r\n", false,
		[]string{"OK", "prompt", "Recv 5", "SEND OK"}},
	{"recv then send fail", "\r\nRecv 2048 bytes\r\n\r\nSEND FAIL\r\n", false, []string{"Recv 2048", "SEND FAIL"}},
	{"1.x plain send fail", "SEND FAIL\r\n0,CLOSED\r\n", false, []string{"SEND FAIL", "CLOSED id=0"}},
	{"busy p and s", "\r\nbusy p...\r\n\r\nbusy s...\r\n", false, []string{"busy p", "busy s"}},
	{"ipd payload with OK and IPD inside", "\r\n+IPD,0,17:a\r\nOK\r\n+IPD,1,3:x\r\n\r\nOK\r\n", false,
		[]string{"+IPD id=0 \"a\\r\\nOK\\r\\n+IPD,1,3:x\"", "OK"}},
	{"ipd payload then CLOSED glued", "\r\n+IPD,0,15:{\"curTemp\":69}}0,CLOSED\r\n", false,
		[]string{`+IPD id=0 "{\"curTemp\":69}}"`, "CLOSED id=0"}},
	{"ipd payload without final crlf then ipd", "\r\n+IPD,2,3:abc\r\n+IPD,2,2:de", false,
		[]string{`+IPD id=2 "abc"`, `+IPD id=2 "de"`}},
	{"ipd single mode", "\r\n+IPD,4:ping", false, []string{`+IPD id=-1 "ping"`}},
	{"1.x dinfo ipd unquoted", "\r\n+IPD,0,5,1.2.3.4,80:hello", false, []string{`+IPD id=0 "hello" from 1.2.3.4:80`}},
	{"2.1 dinfo ipd quoted", "\r\n+IPD,1,5,\"192.168.1.9\",5000:hello", false, []string{`+IPD id=1 "hello" from 192.168.1.9:5000`}},
	{"ipd ipv6 quoted", "\r\n+IPD,1,2,\"fe80::1\",80:hi", false, []string{`+IPD id=1 "hi" from [fe80::1]:80`}},
	{"passive notices", "\r\n+IPD,4,31\r\n\r\n+IPD,4,68\r\n", false, []string{"+IPD notice id=4 n=31", "+IPD notice id=4 n=68"}},
	{"1.7 recvdata", "\r\n+CIPRECVDATA,5:a\r\nOK\r\n\r\nOK\r\n", false, []string{`+CIPRECVDATA id=-1 "a\r\nOK"`, "OK"}},
	{"2.0 recvdata with id", "+CIPRECVDATA,3,4:abcd\r\nOK\r\n", false, []string{`+CIPRECVDATA id=3 "abcd"`, "OK"}},
	{"2.1 recvdata", "+CIPRECVDATA:5,hello\r\nOK\r\n", false, []string{`+CIPRECVDATA id=-1 "hello"`, "OK"}},
	{"2.1 recvdata with dinfo", "+CIPRECVDATA:5,\"127.0.0.1\",4321,he,lo\r\nOK\r\n", true,
		[]string{`+CIPRECVDATA id=-1 "he,lo" from 127.0.0.1:4321`, "OK"}},
	{"2.1 recvdata quote payload without dinfo", "+CIPRECVDATA:4,\"a\",\r\nOK\r\n", false,
		[]string{`+CIPRECVDATA id=-1 "\"a\","`, "OK"}},
	{"connect inside echo", "AT+CIPSEND=0,1,CONNECT\r\n98\r\r\n\r\nOK\r\n> ", false,
		[]string{`line "AT+CIPSEND=0,1,CONNECT"`, `line "98"`, "OK", "prompt"}},
	{"cipstart refused", "\r\nERROR\r\n4,CLOSED\r\n", false, []string{"ERROR", "CLOSED id=4"}},
	{"1.x reasons", "ALREADY CONNECTED\r\n\r\nERROR\r\nlink is not valid\r\n\r\nERROR\r\nUNLINK\r\n\r\nERROR\r\nDNS Fail\r\n\r\nERROR\r\n", false,
		[]string{`line "ALREADY CONNECTED"`, "ERROR", `line "link is not valid"`, "ERROR", `line "UNLINK"`, "ERROR", `line "DNS Fail"`, "ERROR"}},
	{"boot garbage then ready", " ets Jan  8 2013,rst cause:2, boot mode:(3,6)\r\n\r\nload 0x40100000, len 2408, room 16 \r\n\xfc\x8c\x85\xb1\x30x1fc000\x8c\xe2\x9c\r\nr\xff\xfeready\r\nWIFI DISCONNECT\r\n", false,
		[]string{`line " ets Jan  8 2013,rst cause:2, boot mode:(3,6)"`, `line "load 0x40100000, len 2408, room 16 "`, `line "\xfc\x8c\x85\xb10x1fc000\x8c\xe2\x9c"`, "ready", "WIFI"}},
	{"2.x ready", "\r\nready\r\n", false, []string{"ready"}},
	{"already is not ready", "already\r\n", false, []string{`line "already"`}},
	{"link conn", "+LINK_CONN:0,1,\"TCP\",1,\"192.168.4.2\",51234,333\r\n", false, []string{"LINK_CONN id=1 from 192.168.4.2:51234"}},
	{"wifi events", "WIFI CONNECTED\r\nWIFI GOT IP\r\n\r\nOK\r\n", false, []string{"WIFI", "WIFI", "OK"}},
	{"cwjap fail 1.x", "+CWJAP:2\r\n\r\nFAIL\r\n", false, []string{`line "+CWJAP:2"`, "FAIL"}},
	{"cipstatus", "STATUS:3\r\n+CIPSTATUS:0,\"TCP\",\"127.0.0.1\",40000,333,1\r\n\r\nOK\r\n", false,
		[]string{`line "STATUS:3"`, `line "+CIPSTATUS:0,\"TCP\",\"127.0.0.1\",40000,333,1"`, "OK"}},
	{"garbage ipd header is a line", "+IPD,9,5:hello\r\n", false, []string{`line "+IPD,9,5:hello"`}},
	{"huge ipd length is a line", "+IPD,0,99999:x\r\n", false, []string{`line "+IPD,0,99999:x"`}},
	{"prompt not mid-line", "a>b\r\n", false, []string{`line "a>b"`}},
	{"uart cur without crlf", "+UART_CUR:115200,8,1,0,0\r\nOK\r\n", false, []string{`line "+UART_CUR:115200,8,1,0,0"`, "OK"}},
	{"cipdomain 2.2 quoted", "+CIPDOMAIN:\"1.2.3.4\"\r\n\r\nOK\r\n", false, []string{`line "+CIPDOMAIN:\"1.2.3.4\""`, "OK"}},
}

func TestTokenizer(t *testing.T) {
	for _, tc := range tokenizerCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tokenize([]byte(tc.in), tc.dinfo, nil)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("tokens of %q:\n got %q\nwant %q", tc.in, got, tc.want)
			}
			// The same bytes one at a time (a slow UART) give the same tokens.
			slow, err := tokenize([]byte(tc.in), tc.dinfo, iotest.OneByteReader)
			if err != nil {
				t.Fatalf("one byte at a time: error: %v", err)
			}
			if fmt.Sprint(slow) != fmt.Sprint(got) {
				t.Errorf("one byte at a time:\n got %q\nwant %q", slow, got)
			}
		})
	}
}

func TestTokenizerLongLineIsCut(t *testing.T) {
	in := append(bytes.Repeat([]byte("x"), 10*maxLine), "\r\nOK\r\n"...)
	tz := newTokenizer(bytes.NewReader(in))
	tok, err := tz.next()
	if err != nil || tok.kind != tokLine || len(tok.text) != maxLine {
		t.Fatalf("got %v %d bytes, %v; want a line cut at %d", tok.kind, len(tok.text), err, maxLine)
	}
	if tok, err = tz.next(); err != nil || tok.kind != tokOK {
		t.Fatalf("after the long line: got %v, %v; want OK", tok.kind, err)
	}
}

func TestClassifyAddr(t *testing.T) {
	if got := parseAddrPort(`"10.0.0.1"`, "80"); got != netip.MustParseAddrPort("10.0.0.1:80") {
		t.Errorf("parseAddrPort = %v", got)
	}
	if got := parseAddrPort("bogus", "80"); got.IsValid() {
		t.Errorf("parseAddrPort(bogus) = %v, want invalid", got)
	}
	// The same shape in both dialects (1.x "%s:%d,\"TCP\",\"%d.%d.%d.%d\",%d,%d,%d",
	// 2.x "%s:%d,\"%s\",\"%s\",%d,%d,%d"), and 2.x's AT+CIPSTATE? line.
	for _, l := range []string{`+CIPSTATUS:2,"TCP","192.168.1.7",5555,333,1`, `+CIPSTATE:2,"TCP","192.168.1.7",5555,333,1`} {
		if p, lport, ok := parseStatusLine(l, 2); !ok || p.String() != "192.168.1.7:5555" || lport != 333 {
			t.Errorf("parseStatusLine(%s) = %v %d %v", l, p, lport, ok)
		}
	}
	if _, _, ok := parseStatusLine(`+CIPSTATUS:2,"TCP","192.168.1.7",5555,333,1`, 3); ok {
		t.Errorf("parseStatusLine matched another link")
	}
	if p, lport, ok := parseStatusLine(`+CIPSTATUS:0,"TCP","10.0.0.1",80`, 0); !ok || p.String() != "10.0.0.1:80" || lport != 0 {
		t.Errorf("parseStatusLine without a local port = %v %d %v", p, lport, ok)
	}
}

func TestStripEcho(t *testing.T) {
	c := &inflight{line: "AT+CIPSEND=0,98"}
	rest, echo := c.stripEcho("AT+CIPSEND=0,1,CONNECT")
	if !echo || rest != "1,CONNECT" {
		t.Fatalf("stripEcho = %q %v, want 1,CONNECT true", rest, echo)
	}
	if rest, echo = c.stripEcho("98"); !echo || rest != "" {
		t.Fatalf("stripEcho(rest of echo) = %q %v", rest, echo)
	}
	if rest, echo = c.stripEcho("98"); echo {
		t.Fatalf("echo used up, but stripEcho took %q", rest)
	}
	// A digit of the unsolicited line equal to the echo's next digit.
	c = &inflight{line: "AT+CIPSEND=0,12"}
	if rest, echo = c.stripEcho("AT+CIPSEND=0,1,CONNECT"); !echo || rest != "1,CONNECT" {
		t.Fatalf("stripEcho = %q %v", rest, echo)
	}
	if _, echo = c.stripEcho("12"); !echo {
		t.Fatalf("rest of echo not taken")
	}
	// A response line that starts like the command is not echo.
	c = &inflight{line: "AT+GMR"}
	if rest, echo = c.stripEcho("AT version:1.7.4.0(May 11 2020 19:13:04)"); echo {
		t.Fatalf("GMR answer taken for echo: %q", rest)
	}
}
