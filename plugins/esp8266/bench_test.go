package esp8266

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/ifsock/ifsock/plugins/esp8266/emulator"
	"github.com/ifsock/ifsock/sdk"
)

// BenchmarkThroughput moves 64 KiB through the driver and the emulated
// module on its pseudo-terminal, each way, and reports the rate as a
// fraction of the UART's line rate (baud/10 bytes per second), the ceiling
// of any ESP8266 driver. "up" is host -> module -> TCP peer (AT+CIPSEND),
// "down" is TCP peer -> module -> host (passive mode, AT+CIPRECVDATA). A
// transfer at 115200 baud takes about 6 s: run with -benchtime=1x.
//
//	go test -run XXX -bench Throughput -benchtime=1x ./plugins/esp8266/
func BenchmarkThroughput(b *testing.B) {
	const size = 64 << 10
	for _, fw := range firmwares {
		for _, baud := range []int{115200, 921600} {
			for _, dir := range []string{"up", "down"} {
				b.Run(fmt.Sprintf("%s/%d/%s", fw, baud, dir), func(b *testing.B) {
					benchTransfer(b, fw, baud, dir, size)
				})
			}
		}
	}
}

func benchTransfer(b *testing.B, fw emulator.Firmware, baud int, dir string, size int) {
	e := newEmulator(b, emulator.Config{Firmware: fw, Baud: baud, Logger: hclog.NewNullLogger()})
	path := servePTY(b, e)
	rec := newRecorder()
	// The emulator paces what it sends; a pty does not pace what the host
	// writes, so the host's side of the UART is paced here.
	port, err := openSerial(path, baud)
	if err != nil {
		b.Fatal(err)
	}
	d := NewOnPort(&pacedWriter{ReadWriteCloser: port, rate: float64(baud) / 10})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if _, err := d.Open(ctx, sdk.OpenRequest{Settings: sdk.Settings{"baud": strconv.Itoa(baud)}, Events: rec, Logger: hclog.NewNullLogger()}); err != nil {
		b.Fatal(err)
	}
	defer d.Close(ctx)

	// The TCP peer: a sink that counts what it gets (up), or a source
	// that sends size bytes to each connection (down).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	got := make(chan int64, 1)
	payload := randomBytes(size, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if dir == "up" {
					n, _ := io.CopyN(io.Discard, c, int64(size))
					got <- n
				} else {
					c.Write(payload)
					io.Copy(io.Discard, c)
				}
			}()
		}
	}()
	peerPort := ln.Addr().(*net.TCPAddr).Port
	var elapsed time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s, err := d.Connect(ctx, sdk.ConnectRequest{Host: "127.0.0.1", Port: peerPort})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		b.StartTimer()
		if dir == "up" {
			if err := d.Send(ctx, s, payload); err != nil {
				b.Fatal(err)
			}
			if n := <-got; n != int64(size) {
				b.Fatalf("the peer got %d bytes", n)
			}
		} else {
			rec.waitBytes(b, s, size)
		}
		b.StopTimer()
		elapsed += time.Since(start)
		if err := d.CloseSocket(ctx, s); err != nil && !errors.Is(err, sdk.ErrClosed) {
			b.Fatal(err) // ErrClosed: the sink closed first
		}
		rec.mu.Lock()
		delete(rec.data, s)
		rec.mu.Unlock()
	}
	rate := float64(size) * float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate/(float64(baud)/10), "line-fraction")
	b.ReportMetric(rate, "B/s")
	b.SetBytes(int64(size))
}

// pacedWriter paces writes to rate bytes per second, like a UART's
// transmitter.
type pacedWriter struct {
	io.ReadWriteCloser
	rate float64
	next time.Time
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	now := time.Now()
	if w.next.Before(now) {
		w.next = now
	}
	w.next = w.next.Add(time.Duration(float64(len(p)) / w.rate * float64(time.Second)))
	n, err := w.ReadWriteCloser.Write(p)
	time.Sleep(time.Until(w.next))
	return n, err
}
