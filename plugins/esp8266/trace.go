package esp8266

import (
	"bytes"
	"io"
	"strconv"

	"github.com/hashicorp/go-hclog"
)

// traceRW wraps the port and logs every byte that crosses it, escaped, with
// its direction ("rx" from the module, "tx" to it), so that a user with a
// real board can send a log of the whole conversation. Secrets (the WiFi
// password, as written on the wire) are replaced by "***" in the log.
type traceRW struct {
	rwc     io.ReadWriteCloser
	log     hclog.Logger
	secrets [][]byte
}

func newTrace(rwc io.ReadWriteCloser, log hclog.Logger, secrets ...string) *traceRW {
	t := &traceRW{rwc: rwc, log: log}
	for _, s := range secrets {
		if s != "" {
			t.secrets = append(t.secrets, []byte(s))
		}
	}
	return t
}

func (t *traceRW) Read(p []byte) (int, error) {
	n, err := t.rwc.Read(p)
	if n > 0 {
		t.log.Info("rx", "bytes", t.escape(p[:n]))
	}
	if err != nil {
		t.log.Info("rx", "error", err.Error())
	}
	return n, err
}

func (t *traceRW) Write(p []byte) (int, error) {
	n, err := t.rwc.Write(p)
	if n > 0 {
		t.log.Info("tx", "bytes", t.escape(p[:n]))
	}
	if err != nil {
		t.log.Info("tx", "error", err.Error())
	}
	return n, err
}

func (t *traceRW) Close() error { return t.rwc.Close() }

// escape renders b as a Go string literal without its quotes: printable
// ASCII as is, \r \n \t and everything else escaped.
func (t *traceRW) escape(b []byte) string {
	for _, s := range t.secrets {
		b = bytes.ReplaceAll(b, s, []byte("***"))
	}
	q := strconv.QuoteToASCII(string(b))
	return q[1 : len(q)-1]
}

// writeFull writes all of p: go.bug.st/serial's Write may return a short
// count with no error.
func writeFull(w io.Writer, p []byte) error {
	stalls := 0
	for len(p) > 0 {
		n, err := w.Write(p)
		p = p[n:]
		if err != nil {
			return err
		}
		if n == 0 {
			if stalls++; stalls > 100 {
				return io.ErrShortWrite
			}
			continue
		}
		stalls = 0
	}
	return nil
}
