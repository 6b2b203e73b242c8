package esp8266

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
)

// kind is what one token of the module's output is.
type kind int

const (
	tokLine        kind = iota // any other text line (a response line, a diagnostic, garbage)
	tokOK                      // "OK"
	tokError                   // "ERROR"
	tokFail                    // "FAIL" (1.x AT+CWJAP failure)
	tokSendOK                  // "SEND OK"
	tokSendFail                // "SEND FAIL"
	tokPrompt                  // the CIPSEND prompt ">" (1.x "> ", 2.x "\r\n>"), no line end
	tokBusyP                   // "busy p...": the last line sent was dropped
	tokBusyS                   // "busy s...": the last line sent was dropped (1.x, while sending)
	tokReady                   // a line ending in "ready": the module (re)started
	tokRecvBytes               // "Recv <n> bytes": the CIPSEND payload is committed
	tokConnect                 // "<id>,CONNECT" (id -1: single-connection "CONNECT")
	tokClosed                  // "<id>,CLOSED"
	tokConnectFail             // "<id>,CONNECT FAIL"
	tokLinkConn                // "+LINK_CONN:<ok>,<id>,..." (AT+SYSMSG detail of a connect)
	tokIPD                     // active-mode data: "+IPD,<id>,<n>[,ip,port]:" and n bytes
	tokIPDNotice               // passive-mode notice: "+IPD,<id>,<n>" (total buffered)
	tokRecvData                // passive read: "+CIPRECVDATA,<n>:" or "+CIPRECVDATA:<n>,[ip,port,]" and n bytes
	tokWifi                    // "WIFI CONNECTED", "WIFI GOT IP", "WIFI DISCONNECT", "DHCP TIMEOUT"
	tokErrCode                 // "ERR CODE:0x..." (2.x, before ERROR)
)

var kindNames = [...]string{
	tokLine: "line", tokOK: "OK", tokError: "ERROR", tokFail: "FAIL", tokSendOK: "SEND OK",
	tokSendFail: "SEND FAIL", tokPrompt: "prompt", tokBusyP: "busy p", tokBusyS: "busy s",
	tokReady: "ready", tokRecvBytes: "Recv bytes", tokConnect: "CONNECT", tokClosed: "CLOSED",
	tokConnectFail: "CONNECT FAIL", tokLinkConn: "LINK_CONN", tokIPD: "+IPD", tokIPDNotice: "+IPD notice",
	tokRecvData: "+CIPRECVDATA", tokWifi: "WIFI", tokErrCode: "ERR CODE",
}

func (k kind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// token is one unit of the module's output.
type token struct {
	kind kind
	text string // the whole line, without its line end (not for tokIPD/tokRecvData payloads)
	id   int    // link id 0-4, or -1 when the message has none
	n    int    // tokRecvBytes: the count; tokIPDNotice: the buffered total; payloads: len(data)
	data []byte // tokIPD, tokRecvData: the payload, exactly n bytes
	addr netip.AddrPort
}

const (
	// maxLine bounds a text line; longer lines are cut (the rest is dropped
	// up to the line end), so garbage never grows memory.
	maxLine = 1024
	// maxPayload bounds the length announced in a +IPD or +CIPRECVDATA
	// header. Real ones are at most a few KiB (one TCP segment in active
	// mode, 2048 per passive read); a larger length is garbage, and the
	// header is then taken as a text line rather than swallowing the stream.
	maxPayload = 16384
	// maxAddrField bounds the `"ip",port,` part of a 2.1+ +CIPRECVDATA header.
	maxAddrField = 64
)

// tokenizer splits the byte stream coming from the module into tokens. It is
// a byte-stream state machine, not a line reader: +IPD and +CIPRECVDATA
// payloads are read by their announced length (they may contain CRLF, "OK",
// "+IPD", anything), and the ">" prompt is recognised at the start of a line
// without a line end (1.x's trailing space is swallowed). Unknown lines and
// garbage come out as tokLine.
//
// It is used by one goroutine (the driver's reader); only recvDataInfo may be
// set from another.
type tokenizer struct {
	r    *bufio.Reader
	line []byte
	// cut is set when the current line overflowed maxLine.
	cut bool
	// skipSpace is set after a prompt: a space right after it is 1.x's
	// "> " and is dropped.
	skipSpace bool
	// recvDataInfo tells that AT+CIPDINFO=1 is on, so that a 2.1+
	// "+CIPRECVDATA:<n>," header is followed by `"ip",port,` before the
	// data. Without it a payload starting with a quote would be ambiguous.
	recvDataInfo atomic.Bool
}

func newTokenizer(r io.Reader) *tokenizer {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 4096)
	}
	return &tokenizer{r: br, line: make([]byte, 0, 128)}
}

// next returns the next token. Its error is the reader's (io.EOF, a closed
// port); a partial line at the end of the stream is dropped.
func (t *tokenizer) next() (token, error) {
	for {
		b, err := t.r.ReadByte()
		if err != nil {
			return token{}, err
		}
		if t.skipSpace {
			t.skipSpace = false
			if b == ' ' {
				continue
			}
		}
		switch b {
		case '\n':
			l := bytes.TrimRight(t.line, "\r")
			t.line, t.cut = t.line[:0], false
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			return classify(string(l)), nil
		case '>':
			if len(bytes.Trim(t.line, "\r")) == 0 {
				t.line, t.cut = t.line[:0], false
				t.skipSpace = true
				return token{kind: tokPrompt, text: ">", id: -1}, nil
			}
		case ':':
			if tok, ok, err := t.colon(); ok || err != nil {
				return tok, err
			}
		case ',':
			if tok, ok, err := t.comma(); ok || err != nil {
				return tok, err
			}
		}
		if t.cut {
			continue
		}
		if len(t.line) >= maxLine {
			t.cut = true
			continue
		}
		t.line = append(t.line, b)
	}
}

// colon handles a ':' that may end a "+IPD,...:" or a 1.7/2.0
// "+CIPRECVDATA,...:" header. It reports whether it produced a token.
func (t *tokenizer) colon() (token, bool, error) {
	switch {
	case bytes.HasPrefix(t.line, []byte("+IPD,")):
		if bytes.Count(t.line, []byte{'"'})%2 == 1 {
			return token{}, false, nil // a ':' inside a quoted IPv6 address
		}
		id, n, addr, ok := parseIPDHeader(string(t.line[len("+IPD,"):]))
		if !ok {
			return token{}, false, nil
		}
		data, err := t.payload(n)
		if err != nil {
			return token{}, false, err
		}
		return token{kind: tokIPD, id: id, n: n, data: data, addr: addr}, true, nil
	case bytes.HasPrefix(t.line, []byte("+CIPRECVDATA,")):
		f := strings.Split(string(t.line[len("+CIPRECVDATA,"):]), ",")
		id := -1
		if len(f) == 2 { // 2.0: +CIPRECVDATA,<id>,<n>:
			var ok bool
			if id, ok = parseLinkID(f[0]); !ok {
				return token{}, false, nil
			}
			f = f[1:]
		}
		if len(f) != 1 {
			return token{}, false, nil
		}
		n, ok := parseLen(f[0])
		if !ok {
			return token{}, false, nil
		}
		data, err := t.payload(n)
		if err != nil {
			return token{}, false, err
		}
		return token{kind: tokRecvData, id: id, n: n, data: data}, true, nil
	}
	return token{}, false, nil
}

// comma handles a ',' that may end a 2.1+ "+CIPRECVDATA:<n>," header.
func (t *tokenizer) comma() (token, bool, error) {
	const head = "+CIPRECVDATA:"
	if !bytes.HasPrefix(t.line, []byte(head)) {
		return token{}, false, nil
	}
	n, ok := parseLen(string(t.line[len(head):]))
	if !ok {
		return token{}, false, nil
	}
	var addr netip.AddrPort
	if t.recvDataInfo.Load() {
		if c, err := t.r.Peek(1); err != nil {
			return token{}, false, err
		} else if c[0] == '"' {
			a, err := t.addrField()
			if err != nil {
				return token{}, false, err
			}
			addr = a
		}
	}
	data, err := t.payload(n)
	if err != nil {
		return token{}, false, err
	}
	return token{kind: tokRecvData, id: -1, n: n, data: data, addr: addr}, true, nil
}

// addrField reads `"ip",port,` after a 2.1+ +CIPRECVDATA length. It reads
// at most maxAddrField bytes; an unparsable field gives the zero AddrPort
// (the bytes are consumed either way: the module wrote them as header).
func (t *tokenizer) addrField() (netip.AddrPort, error) {
	var f []byte
	commas := 0
	for len(f) < maxAddrField {
		b, err := t.r.ReadByte()
		if err != nil {
			return netip.AddrPort{}, err
		}
		if b == ',' {
			commas++
			if commas == 2 {
				break
			}
		}
		f = append(f, b)
	}
	ip, port, ok := strings.Cut(string(f), ",")
	if !ok {
		return netip.AddrPort{}, nil
	}
	return parseAddrPort(ip, port), nil
}

// payload reads exactly n bytes and ends the current line.
func (t *tokenizer) payload(n int) ([]byte, error) {
	t.line, t.cut = t.line[:0], false
	data := make([]byte, n)
	if _, err := io.ReadFull(t.r, data); err != nil {
		return nil, err
	}
	return data, nil
}

// parseIPDHeader parses what is between "+IPD," and ':' in an active-mode
// data header: "<n>", "<id>,<n>", "<n>,<ip>,<port>" or "<id>,<n>,<ip>,<port>"
// (ip quoted on 2.1+, bare on 1.x and 2.0).
func parseIPDHeader(h string) (id, n int, addr netip.AddrPort, ok bool) {
	f := strings.Split(h, ",")
	id = -1
	switch len(f) {
	case 1:
		n, ok = parseLen(f[0])
	case 2:
		if id, ok = parseLinkID(f[0]); ok {
			n, ok = parseLen(f[1])
		}
	case 3:
		n, ok = parseLen(f[0])
		addr = parseAddrPort(f[1], f[2])
	case 4:
		if id, ok = parseLinkID(f[0]); ok {
			n, ok = parseLen(f[1])
			addr = parseAddrPort(f[2], f[3])
		}
	}
	return id, n, addr, ok
}

// parseLinkID parses a link id: one digit 0-4.
func parseLinkID(s string) (int, bool) {
	if len(s) != 1 || s[0] < '0' || s[0] > '4' {
		return 0, false
	}
	return int(s[0] - '0'), true
}

// parseLen parses a payload length: 1 to 5 digits, at most maxPayload.
func parseLen(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, n <= maxPayload
}

// parseAddrPort parses an address (quoted or not) and a port; anything
// unparsable gives the zero AddrPort.
func parseAddrPort(ip, port string) netip.AddrPort {
	a, err := netip.ParseAddr(strings.Trim(ip, `"`))
	if err != nil {
		return netip.AddrPort{}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a.Unmap(), uint16(p))
}

// classify turns one text line (without its line end) into a token.
func classify(l string) token {
	t := token{kind: tokLine, text: l, id: -1}
	switch l {
	case "OK":
		t.kind = tokOK
		return t
	case "ERROR":
		t.kind = tokError
		return t
	case "FAIL":
		t.kind = tokFail
		return t
	case "SEND OK":
		t.kind = tokSendOK
		return t
	case "SEND FAIL":
		t.kind = tokSendFail
		return t
	case "CONNECT":
		t.kind = tokConnect
		return t
	case "CLOSED":
		t.kind = tokClosed
		return t
	case "CONNECT FAIL":
		t.kind = tokConnectFail
		return t
	case "WIFI CONNECTED", "WIFI GOT IP", "WIFI DISCONNECT", "DHCP TIMEOUT":
		t.kind = tokWifi
		return t
	}
	switch {
	case strings.HasPrefix(l, "busy p"):
		t.kind = tokBusyP
	case strings.HasPrefix(l, "busy s"):
		t.kind = tokBusyS
	case strings.HasSuffix(l, "ready") && !strings.HasSuffix(strings.ToLower(l), "already"):
		t.kind = tokReady
	case len(l) > len("Recv  bytes") && strings.HasPrefix(l, "Recv ") && strings.HasSuffix(l, " bytes"):
		if n, err := strconv.Atoi(l[len("Recv ") : len(l)-len(" bytes")]); err == nil && n >= 0 {
			t.kind, t.n = tokRecvBytes, n
		}
	case strings.HasPrefix(l, "ERR CODE:"):
		t.kind = tokErrCode
	case strings.HasPrefix(l, "WIFI "):
		t.kind = tokWifi
	case len(l) >= 3 && l[1] == ',':
		id, ok := parseLinkID(l[:1])
		if !ok {
			break
		}
		switch l[2:] {
		case "CONNECT":
			t.kind, t.id = tokConnect, id
		case "CLOSED":
			t.kind, t.id = tokClosed, id
		case "CONNECT FAIL":
			t.kind, t.id = tokConnectFail, id
		}
	case strings.HasPrefix(l, "+IPD,"):
		f := strings.Split(l[len("+IPD,"):], ",")
		switch len(f) {
		case 1:
			if n, ok := parseLen(f[0]); ok {
				t.kind, t.n = tokIPDNotice, n
			}
		case 2:
			id, ok := parseLinkID(f[0])
			n, ok2 := parseLen(f[1])
			if ok && ok2 {
				t.kind, t.id, t.n = tokIPDNotice, id, n
			}
		}
	case strings.HasPrefix(l, "+LINK_CONN:"):
		// +LINK_CONN:<0 ok/1 fail>,<id>,"TCP",<c/s>,"<ip>",<rport>,<lport>
		f := strings.Split(l[len("+LINK_CONN:"):], ",")
		if len(f) < 6 {
			break
		}
		id, ok := parseLinkID(f[1])
		if !ok {
			break
		}
		t.kind, t.id = tokLinkConn, id
		if f[0] != "0" {
			t.kind = tokConnectFail
		}
		t.addr = parseAddrPort(f[4], f[5])
	}
	return t
}

// isUnsolicited reports whether k is a message the module sends on its own
// (as opposed to part of a command's response).
func isUnsolicited(k kind) bool {
	switch k {
	case tokConnect, tokClosed, tokConnectFail, tokLinkConn, tokIPD, tokIPDNotice, tokWifi, tokReady:
		return true
	}
	return false
}
