// Package idset is the bounded set of ended socket ids that the host's
// core, the host's proxy driver and the plugin's server each keep, so that
// a late event or frame for a socket that ended is told from one for a
// socket never seen: one type, one eviction rule.
package idset

// Set remembers at most Max ids, forgetting the oldest first. Socket ids
// are never reused within a driver's run, so forgetting an old one only
// risks taking a very late event for it as one for an unknown socket, which
// every side then ignores. The zero Set is ready to use. Not safe for
// concurrent use: its owner's lock guards it.
type Set struct {
	ids  map[uint64]struct{}
	fifo []uint64
	head int
}

// Max bounds a Set.
const Max = 1 << 16

// Add remembers id.
func (s *Set) Add(id uint64) {
	if s.ids == nil {
		s.ids = make(map[uint64]struct{})
	}
	if _, ok := s.ids[id]; ok {
		return
	}
	if len(s.ids) >= Max {
		delete(s.ids, s.fifo[s.head])
		s.fifo[s.head] = id
		s.head = (s.head + 1) % len(s.fifo)
	} else {
		s.fifo = append(s.fifo, id)
	}
	s.ids[id] = struct{}{}
}

// Has reports whether id is remembered.
func (s *Set) Has(id uint64) bool {
	_, ok := s.ids[id]
	return ok
}
