package loopback

import (
	"bytes"
	"runtime"
	"strconv"
)

// goid returns the id of the calling goroutine.
//
// The driver needs it for one thing: CloseSocket and Close wait for a
// running event of a socket to end, unless they are called from inside that
// very event (a handler closing its own socket), where waiting would never
// end. Go has no public goroutine identity, so this reads it from the first
// line of the goroutine's own stack trace, "goroutine 123 [running]:". It
// costs about a microsecond and is called once per close and per delivery
// goroutine, never on the data path.
func goid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	line := bytes.TrimPrefix(buf[:n], []byte("goroutine "))
	if i := bytes.IndexByte(line, ' '); i > 0 {
		line = line[:i]
	}
	id, err := strconv.ParseInt(string(line), 10, 64)
	if err != nil {
		return -1 // never equal to a recorded id: callers then wait, as for any other goroutine
	}
	return id
}
