package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"
)

// FrameReader reads length-prefixed protobuf frames: a 4-byte big-endian
// length, then the message. Not safe for concurrent use: one reader.
type FrameReader struct {
	r   *bufio.Reader
	buf []byte
}

// NewFrameReader reads frames from r.
func NewFrameReader(r io.Reader) *FrameReader {
	// Small frames come through the buffer; a body as large as it is read
	// straight into place by bufio, saving a copy.
	return &FrameReader{r: bufio.NewReaderSize(r, 32<<10)}
}

// Read reads the next frame into m. Bytes fields of m are copies: the
// caller owns them.
func (f *FrameReader) Read(m proto.Message) error {
	var head [4]byte
	if _, err := io.ReadFull(f.r, head[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > MaxMessage {
		return fmt.Errorf("wire: frame of %d bytes is over the %d limit", n, MaxMessage)
	}
	if cap(f.buf) < int(n) {
		f.buf = make([]byte, n)
	}
	b := f.buf[:n]
	if _, err := io.ReadFull(f.r, b); err != nil {
		return err
	}
	return proto.Unmarshal(b, m)
}

// FrameWriter writes length-prefixed protobuf frames, each with one write
// call. Not safe for concurrent use: one writer.
type FrameWriter struct {
	w   io.Writer
	buf []byte
}

// NewFrameWriter writes frames to w.
func NewFrameWriter(w io.Writer) *FrameWriter { return &FrameWriter{w: w} }

// Write writes m as one frame: the length and the message are marshalled
// into one buffer and written at once.
func (f *FrameWriter) Write(m proto.Message) error {
	b, err := proto.MarshalOptions{}.MarshalAppend(append(f.buf[:0], 0, 0, 0, 0), m)
	if err != nil {
		return err
	}
	if cap(b) <= 2*MaxMessage {
		f.buf = b[:0]
	}
	n := len(b) - 4
	if n > MaxMessage {
		return fmt.Errorf("wire: frame of %d bytes is over the %d limit", n, MaxMessage)
	}
	binary.BigEndian.PutUint32(b, uint32(n))
	_, err = f.w.Write(b)
	return err
}
