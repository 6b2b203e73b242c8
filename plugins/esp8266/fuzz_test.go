package esp8266

import (
	"fmt"
	"testing"
	"testing/iotest"
)

// FuzzTokenizer feeds the tokenizer arbitrary module output. Its seeds (in
// testdata/fuzz/FuzzTokenizer, plus the cases of TestTokenizer) are the exact
// byte sequences of esp-at-reference.md. It checks that the tokenizer never
// fails on garbage, keeps lines and payloads within their bounds, reads each
// payload to its announced length, and gives the same tokens whether the
// bytes come all at once or one at a time.
func FuzzTokenizer(f *testing.F) {
	for _, tc := range tokenizerCases {
		f.Add([]byte(tc.in), tc.dinfo)
	}
	f.Fuzz(func(t *testing.T, in []byte, dinfo bool) {
		fast, err := tokenize(in, dinfo, nil)
		if err != nil {
			t.Fatalf("error on %q: %v", in, err)
		}
		slow, err := tokenize(in, dinfo, iotest.OneByteReader)
		if err != nil {
			t.Fatalf("one byte at a time, error on %q: %v", in, err)
		}
		if fmt.Sprint(fast) != fmt.Sprint(slow) {
			t.Fatalf("tokens differ with one byte at a time on %q:\n%q\n%q", in, fast, slow)
		}
		tz := newTokenizer(bytesReader(in))
		tz.recvDataInfo.Store(dinfo)
		total := 0
		for {
			tok, err := tz.next()
			if err != nil {
				break
			}
			switch tok.kind {
			case tokIPD, tokRecvData:
				if len(tok.data) != tok.n || tok.n > maxPayload {
					t.Fatalf("payload of %d bytes, header said %d", len(tok.data), tok.n)
				}
				total += tok.n
			default:
				if len(tok.text) > maxLine {
					t.Fatalf("line of %d bytes, bound %d", len(tok.text), maxLine)
				}
				total += len(tok.text)
			}
			if tok.id < -1 || tok.id > 4 {
				t.Fatalf("link id %d", tok.id)
			}
		}
		if total > len(in) {
			t.Fatalf("tokens hold %d bytes, input has %d", total, len(in))
		}
	})
}
