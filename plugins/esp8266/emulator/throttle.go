package emulator

import "time"

// throttle paces a byte stream like a UART at 8N1: baud/10 bytes per second,
// with at most burstTime worth of unused budget saved up. Over any interval of
// length d it lets through at most rate*(d+burstTime) bytes plus one chunk.
//
// A throttle is owned by one goroutine (the output writer) and is not safe for
// concurrent use.
type throttle struct {
	rate float64   // bytes per second
	paid time.Time // virtual time up to which the bytes written are paid for
}

const burstTime = 10 * time.Millisecond

func newThrottle(baud int) *throttle {
	t := &throttle{}
	t.setBaud(baud)
	return t
}

func (t *throttle) setBaud(baud int) {
	if baud < 1 {
		baud = 1
	}
	t.rate = float64(baud) / 10
}

// chunk is the size of one write: about 1/200 s of line time, so pacing stays
// smooth at low rates and cheap at high ones.
func (t *throttle) chunk() int {
	n := int(t.rate / 200)
	switch {
	case n < 1:
		return 1
	case n > 4096:
		return 4096
	}
	return n
}

// wait blocks until n more bytes may leave, or done is closed (then it
// returns false).
func (t *throttle) wait(done <-chan struct{}, n int) bool {
	now := time.Now()
	if floor := now.Add(-burstTime); t.paid.Before(floor) {
		t.paid = floor
	}
	t.paid = t.paid.Add(time.Duration(float64(n) / t.rate * float64(time.Second)))
	d := t.paid.Sub(now)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-done:
		return false
	}
}
