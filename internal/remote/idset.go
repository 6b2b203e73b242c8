package remote

// idSet remembers a bounded number of ended socket ids, the oldest
// forgotten first. Ids are never reused within a session, so forgetting an
// old one only risks taking a very late frame for it as one for an unknown
// socket, which both sides then ignore. Not safe for concurrent use: its
// owner's lock guards it.
type idSet struct {
	ids  map[uint64]struct{}
	fifo []uint64
	head int
}

// maxEnded bounds each side's idSet.
const maxEnded = 1 << 16

func (s *idSet) add(id uint64) {
	if s.ids == nil {
		s.ids = make(map[uint64]struct{})
	}
	if _, ok := s.ids[id]; ok {
		return
	}
	if len(s.ids) >= maxEnded {
		delete(s.ids, s.fifo[s.head])
		s.fifo[s.head] = id
		s.head = (s.head + 1) % len(s.fifo)
	} else {
		s.fifo = append(s.fifo, id)
	}
	s.ids[id] = struct{}{}
}

func (s *idSet) has(id uint64) bool {
	_, ok := s.ids[id]
	return ok
}
