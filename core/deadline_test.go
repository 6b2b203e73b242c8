package core

import (
	"testing"
	"time"
)

// TestDeadlineExtendedAsItFires: moving a deadline later at the moment the
// old one fires must not leave the new one already passed. (A review found
// that a stale timer callback could close the new deadline's channel.) The
// test holds the lock while the old timer fires, so its callback waits for
// the lock as the deadline is moved: the window the bug needs.
func TestDeadlineExtendedAsItFires(t *testing.T) {
	d := newDeadline()
	spurious := 0
	for range 100 {
		d.set(time.Now().Add(100 * time.Microsecond))
		d.mu.Lock()
		time.Sleep(2 * time.Millisecond) // the timer fires; its callback waits for d.mu
		d.mu.Unlock()
		d.set(time.Now().Add(time.Hour))
		time.Sleep(100 * time.Microsecond) // let a stale callback run
		select {
		case <-d.wait():
			spurious++
		default:
		}
	}
	if spurious > 0 {
		t.Fatalf("%d of 100 extended deadlines had already fired", spurious)
	}
}
