package idset

import "testing"

func TestSetForgetsTheOldestFirst(t *testing.T) {
	var s Set
	if s.Has(1) {
		t.Fatal("the zero Set has 1")
	}
	for id := uint64(1); id <= Max+10; id++ {
		s.Add(id)
	}
	for id := uint64(1); id <= 10; id++ {
		if s.Has(id) {
			t.Errorf("id %d is still remembered after %d newer ones", id, Max)
		}
	}
	for _, id := range []uint64{11, Max, Max + 10} {
		if !s.Has(id) {
			t.Errorf("id %d was forgotten, but it is among the %d newest", id, Max)
		}
	}
	if len(s.ids) != Max || len(s.fifo) != Max {
		t.Errorf("the set holds %d ids in a fifo of %d, want %d", len(s.ids), len(s.fifo), Max)
	}
	s.Add(Max + 10) // again: no change
	if !s.Has(Max+10) || s.Has(11) == false {
		t.Error("adding a remembered id evicted another")
	}
}
