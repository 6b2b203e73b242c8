package core

import (
	"testing"
	"time"
)

// TestDeadlineExtendedAsItFires: moving a deadline later at the moment the
// old one fires must not leave the new one already passed. (A review found
// that a stale timer callback could close the new deadline's channel.)
func TestDeadlineExtendedAsItFires(t *testing.T) {
	d := newDeadline()
	spurious := 0
	for range 2000 {
		d.set(time.Now().Add(50 * time.Microsecond))
		time.Sleep(45 * time.Microsecond)
		d.set(time.Now().Add(time.Hour))
		select {
		case <-d.wait():
			spurious++
		default:
		}
	}
	if spurious > 0 {
		t.Fatalf("%d of 2000 extended deadlines had already fired", spurious)
	}
}
