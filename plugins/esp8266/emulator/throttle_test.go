package emulator

import (
	"bytes"
	"testing"
	"time"
)

// measure reads from the rig until want bytes of payload (counted as all
// bytes received) arrived and returns the observed rate in bytes per second,
// timed from the first chunk (whose bytes are not counted: they may have
// been sent in the allowed burst).
func measure(t *testing.T, r *rig, total int) float64 {
	t.Helper()
	var first time.Time
	got, counted := 0, 0
	deadline := time.After(20 * time.Second)
	for got < total {
		select {
		case b, ok := <-r.data:
			if !ok {
				t.Fatal("stream ended")
			}
			if first.IsZero() {
				first = time.Now()
			} else {
				counted += len(b)
			}
			got += len(b)
		case <-deadline:
			t.Fatalf("only %d of %d bytes arrived", got, total)
		}
	}
	return float64(counted) / time.Since(first).Seconds()
}

// TestThrottle checks the correctness bound of the output pacing: bytes
// never leave faster than Baud/10 per second (plus the small burst), also
// after AT+UART_CUR changes the rate.
func TestThrottle(t *testing.T) {
	const baud = 230400
	r := start(t, Config{Baud: baud, Joined: true})
	r.expect(joined22)
	p := newPeer(t)
	c := r.connect(p, -1)

	check := func(baud, n int) {
		t.Helper()
		payload := bytes.Repeat([]byte("0123456789abcdef"), n/16)
		go c.Write(payload)
		// +IPD headers ("\r\n+IPD,1460:") add 12 bytes per 1460.
		total := len(payload) + (len(payload)+mss-1)/mss*12
		rate := measure(t, r, total)
		limit := float64(baud) / 10
		t.Logf("baud %d: %.0f B/s (limit %.0f)", baud, rate, limit)
		if rate > limit*1.05 {
			t.Fatalf("output at %.0f B/s exceeds %d baud (%.0f B/s)", rate, baud, limit)
		}
	}
	check(baud, 16*1460)
	r.cmd("AT+UART_CUR=115200,8,1,0,0", "\r\nOK\r\n")
	check(115200, 6*1460)
}

func TestThrottleUnit(t *testing.T) {
	th := newThrottle(8_000_000) // 800 kB/s
	done := make(chan struct{})
	start := time.Now()
	sent := 0
	for sent < 200_000 {
		n := th.chunk()
		if !th.wait(done, n) {
			t.Fatal("wait aborted")
		}
		sent += n
	}
	min := time.Duration(float64(sent)/800_000*float64(time.Second)) - burstTime
	if d := time.Since(start); d < min {
		t.Fatalf("%d bytes took %v, the bound allows no less than %v", sent, d, min)
	}
	close(done)
	if th.wait(done, 1_000_000) {
		t.Fatal("wait did not stop when done was closed")
	}
}
