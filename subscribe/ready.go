package subscribe

// Readiness: whether load balancers should send clients here. The Server
// owns it because it holds what it rests on: whether it is draining
// (Drain), the feed state it last told clients (SetFeedUp), and whether
// the feed runs at all (SetFeedRunning).

// Ready reports whether the server is ready for clients: the feed runs,
// clients were last told it is up, and the server is not draining. Ready
// implies every session was sent feed_up before any tick that follows.
// /readyz and the tickgate_ready metric both read it.
func (s *Server) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.feedRunning && !s.feedDown && !s.draining
}

// SetFeedRunning records whether the feed's Run is running. A feed that
// stops running after it ran (a replay without loop at the end of its
// file) leaves the server serving the last ticks, not ready, and tells
// clients so: feed_down, whose msg says the feed ended, to every session
// and to each new one, with no feed_up to follow unless it runs again.
func (s *Server) SetFeedRunning(running bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wasDown := s.feedToldDownLocked()
	s.feedEnded = s.feedRunning && !running || s.feedEnded && !running
	s.feedRunning = running
	s.tellFeedLocked(wasDown)
}
