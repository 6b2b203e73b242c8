package wire

import (
	"net"
	"testing"
)

// BenchmarkFrames measures the data path's framing over a Unix socket:
// write batches of one MaxChunk write, read them back.
func BenchmarkFrames(b *testing.B) {
	l, err := net.Listen("unix", b.TempDir()+"/s")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := net.Dial("unix", l.Addr().String())
		if err != nil {
			return
		}
		defer c.Close()
		fw := NewFrameWriter(c)
		data := make([]byte, MaxChunk)
		for {
			if err := fw.Write(&HostBatch{Writes: []*Write{{Socket: 1, Id: 1, Data: data}}}); err != nil {
				return
			}
		}
	}()
	c, err := l.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	fr := NewFrameReader(c)
	b.SetBytes(MaxChunk)
	b.ResetTimer()
	for range b.N {
		var m HostBatch
		if err := fr.Read(&m); err != nil {
			b.Fatal(err)
		}
	}
}
