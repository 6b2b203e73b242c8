package remote

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/ifsock/ifsock/internal/wire"
	"github.com/ifsock/ifsock/sdk"
)

// The data path carries binary frames in both directions, each a header
// and a payload:
//
//	length  uint32, big endian: the bytes after this field (9 + payload)
//	type    uint8: a frameType
//	id      uint64, big endian: the socket, or the call id of fCall,
//	        fCancel and fReply
//	payload the frame type's fields, in the order documented there
//
// Data payloads are raw bytes: nothing is marshalled, so a chunk is copied
// only by the kernel on its way between the processes. Strings are a
// uint16 length then the bytes; a status is two strings, code and message
// (an empty code is success).
const (
	headerSize = 13
	// maxPayload bounds a frame's payload: a data chunk, or a few strings.
	maxPayload = wire.MaxChunk + 1<<10
)

type frameType uint8

const (
	// host to plugin
	fWrite      frameType = 1 + iota // id socket; payload: the bytes
	fCloseWrite                      // id socket
	fClose                           // id socket
	fCredit                          // id socket; payload: uint32 receive credit given back
	fCall                            // id call; payload: op uint8, then its arguments
	fCancel                          // id call: its ctx is done
	// plugin to host
	fAccepted // id socket; payload: listener uint64, peer string
	fData     // id socket; payload: the bytes
	fFinished // id socket
	fDropped  // id socket; payload: status
	fTaken    // id socket; payload: uint32 send credit (bytes the driver took)
	fFailed   // id socket; payload: status of a Send or CloseWrite that failed
	fReply    // id call; payload: status, socket uint64, peer string, then optionally local string
	fLast
)

func (t frameType) String() string {
	names := [...]string{"?", "write", "close-write", "close", "credit", "call", "cancel",
		"accepted", "data", "finished", "dropped", "taken", "failed", "reply"}
	if int(t) < len(names) {
		return names[t]
	}
	return fmt.Sprintf("frame type %d", t)
}

// Call operations (fCall's first payload byte).
const (
	opConnect byte = 1 + iota // host string, port uint16
	opListen                  // port uint16
	opPeer                    // socket uint64
	opDrain                   // none: replies once the writes and closes before it ran
	opLocal                   // socket uint64: the reply's local string is its local address
)

// header is a decoded frame header.
type header struct {
	typ frameType
	id  uint64
	n   int // payload length
}

// frameReader reads frames. One reader; not safe for concurrent use.
type frameReader struct {
	raw     io.Reader
	r       *bufio.Reader // headers and small payloads come through it
	scratch []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{raw: r, r: bufio.NewReaderSize(r, 64<<10), scratch: make([]byte, 0, 1<<10)}
}

// next reads the next header.
func (f *frameReader) next() (header, error) {
	var b [headerSize]byte
	if _, err := io.ReadFull(f.r, b[:]); err != nil {
		return header{}, err
	}
	n := int(binary.BigEndian.Uint32(b[:4])) - (headerSize - 4)
	h := header{typ: frameType(b[4]), id: binary.BigEndian.Uint64(b[5:]), n: n}
	if n < 0 || n > maxPayload {
		return h, violation("a %v frame of %d bytes", h.typ, n)
	}
	if h.typ == 0 || h.typ >= fLast {
		return h, violation("unknown frame type %d", h.typ)
	}
	return h, nil
}

// payload reads h's payload into dst, which must have room for it. What
// the buffer holds of it is copied; the rest is read straight into dst, so
// a large payload is not copied twice.
func (f *frameReader) payload(h header, dst []byte) ([]byte, error) {
	dst = dst[:h.n]
	k, err := f.r.Read(dst[:min(h.n, f.r.Buffered())])
	if err != nil || k == h.n {
		return dst, err
	}
	if h.n-k < 4<<10 {
		// A short rest: through the buffer, which reads ahead.
		_, err = io.ReadFull(f.r, dst[k:])
		return dst, err
	}
	_, err = io.ReadFull(f.raw, dst[k:])
	return dst, err
}

// small reads a payload of fields into the reader's scratch buffer, valid
// until the next read.
func (f *frameReader) small(h header) (fields, error) {
	if cap(f.scratch) < h.n {
		f.scratch = make([]byte, h.n)
	}
	b, err := f.payload(h, f.scratch)
	return fields{b: b}, err
}

// fields decodes a payload's fields in order; a short payload leaves bad
// set, and zero values.
type fields struct {
	b   []byte
	bad bool
}

// take returns the next n bytes, or nil (and marks the frame short) when
// fewer are left.
func (p *fields) take(n int) []byte {
	if len(p.b) < n {
		p.bad = true
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *fields) u8() byte {
	if b := p.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (p *fields) u16() uint16 {
	if b := p.take(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (p *fields) u32() uint32 {
	if b := p.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (p *fields) u64() uint64 {
	if b := p.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (p *fields) str() string { return string(p.take(int(p.u16()))) }

// status decodes a status into the sdk's vocabulary: nil for success.
func (p *fields) status() error {
	code, msg := p.str(), p.str()
	if code == "" {
		return nil
	}
	return sdk.FromCode(sdk.Code(code), msg)
}

// more reports whether fields remain: a field a newer peer appends is
// optional for an older one.
func (p *fields) more() bool { return len(p.b) > 0 }

func (p *fields) addrPort() netip.AddrPort {
	ap, _ := netip.ParseAddrPort(p.str())
	return ap
}

// Encoders append fields to a payload.

func putU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func putU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func putU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func putStr(b []byte, s string) []byte {
	if len(s) > 0xffff {
		s = s[:0xffff]
	}
	return append(putU16(b, uint16(len(s))), s...)
}

func putStatus(b []byte, err error) []byte {
	if err == nil {
		return putStr(putStr(b, ""), "")
	}
	return putStr(putStr(b, string(sdk.CodeOf(err))), err.Error())
}

func putAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return putStr(b, "")
	}
	return putStr(b, ap.String())
}

// dataPathBuffer is the kernel buffer each side asks for on the data path,
// each way: with the default (about 208 KiB) a writer of 64 KiB chunks
// blocks after three, and each block costs a wake-up on both sides. The
// kernel caps it at net.core.wmem_max and rmem_max.
const dataPathBuffer = 4 << 20

// tuneDataPath sizes the data path's kernel buffers; failing is harmless.
func tuneDataPath(c net.Conn) {
	if uc, ok := c.(*net.UnixConn); ok {
		_ = uc.SetWriteBuffer(dataPathBuffer)
		_ = uc.SetReadBuffer(dataPathBuffer)
	}
}

// protocolError is a peer breaking the data path's protocol: the session
// ends (and the host stops the plugin). It matches sdk.ErrInternal.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "protocol violation: " + e.msg }

func (e *protocolError) Is(target error) bool { return target == sdk.ErrInternal }

// violation makes a protocolError.
func violation(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}
