package emulator

// The interleave fault. Real firmware prints the events of its network task
// (CONNECT, +IPD, CLOSED) whenever they happen, so they land inside the 1.x
// command echo and between the CIPSEND prompt, "Recv N bytes" and SEND OK.
// With the fault on, the emulator holds every link and accept event (without
// applying it) and applies the held events at those points, or when the hold
// time (20 x Latency) ends. Events are applied in arrival order, so per-link
// order is kept.

// hold defers ev (a linkEvent or an acceptEvent).
func (s *session) hold(ev any) {
	s.deferred = append(s.deferred, ev)
	if !s.holdArmed {
		s.holdArmed = true
		s.after(20*s.cfg.Latency, func() {
			s.holdArmed = false
			s.releaseDeferred(false)
		})
	}
}

// releaseAtPoint applies held events at an interleave point.
func (s *session) releaseAtPoint() {
	if len(s.deferred) > 0 {
		s.flushEcho()
		s.releaseDeferred(true)
	}
}

func (s *session) releaseDeferred(atPoint bool) {
	evs := s.deferred
	s.deferred = nil
	gen := s.gen
	for i, ev := range evs {
		if s.gen != gen {
			// An event reset the module: the rest is gone with it.
			for _, rest := range evs[i:] {
				if a, ok := rest.(acceptEvent); ok {
					a.conn.Close()
				}
			}
			return
		}
		if atPoint {
			s.faults.always(FaultInterleave)
		}
		switch ev := ev.(type) {
		case linkEvent:
			ev.l.pending -= len(ev.data)
			s.deferredBytes -= len(ev.data)
			s.applyLinkEvent(ev)
		case acceptEvent:
			s.applyAccept(ev)
		}
	}
}
