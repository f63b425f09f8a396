package subscribe

import "github.com/tickgate/tickgate/fanout"

// Feed notices. Each is encoded once and the same bytes are queued for
// every session; nobody writes to them.
var (
	noticeFeedDown  = []byte(`{"type":"notice","code":"feed_down","msg":"the price feed is down or stalled: no ticks until feed_up"}`)
	noticeFeedEnded = []byte(`{"type":"notice","code":"feed_down","msg":"the price feed ended: no more ticks; the last prices stand"}`)
	noticeFeedUp    = []byte(`{"type":"notice","code":"feed_up"}`)
)

// SetFeedUp tells clients whether the feed is flowing. On a change it
// queues {"type":"notice","code":"feed_down"} or "feed_up" for every open
// session; while the feed is down, each new session gets feed_down before
// anything else. Repeating the current state sends nothing. Safe for
// concurrent use; it never blocks on a client (a notice that overflows a
// queue closes that client as any message would).
func (s *Server) SetFeedUp(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wasDown := s.feedToldDownLocked()
	s.feedDown = !up
	s.tellFeedLocked(wasDown)
}

// feedToldDownLocked reports whether clients are to hear the feed is down:
// it is down or stalled (SetFeedUp), or it ended (SetFeedRunning).
func (s *Server) feedToldDownLocked() bool { return s.feedDown || s.feedEnded }

// tellFeedLocked queues feed_down or feed_up for every session if what
// clients are to hear changed from wasDown.
func (s *Server) tellFeedLocked(wasDown bool) {
	down := s.feedToldDownLocked()
	if down == wasDown {
		return
	}
	m := fanout.Message{Data: noticeFeedUp}
	if down {
		m.Data = s.feedDownNoticeLocked()
	}
	for sess := range s.sessions {
		sess.client.Enqueue(m)
	}
}

// feedDownNoticeLocked is the feed_down a client gets: its msg says
// whether the feed ended or is down.
func (s *Server) feedDownNoticeLocked() []byte {
	if s.feedEnded {
		return noticeFeedEnded
	}
	return noticeFeedDown
}

// greetLocked queues feed_down for a new session while the feed is down.
// s.mu is held, so a concurrent SetFeedUp cannot slip between.
func (s *Server) greetLocked(sess *session) {
	if s.feedToldDownLocked() {
		sess.client.Enqueue(fanout.Message{Data: s.feedDownNoticeLocked()})
	}
}
