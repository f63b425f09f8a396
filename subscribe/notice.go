package subscribe

import "github.com/tickgate/tickgate/fanout"

// Feed notices. Each is encoded once and the same bytes are queued for
// every session; nobody writes to them.
var (
	noticeFeedDown = []byte(`{"type":"notice","code":"feed_down","msg":"the price feed is down or stalled: no ticks until feed_up"}`)
	noticeFeedUp   = []byte(`{"type":"notice","code":"feed_up"}`)
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
	if s.feedDown == !up {
		return
	}
	s.feedDown = !up
	m := fanout.Message{Data: noticeFeedUp}
	if !up {
		m.Data = noticeFeedDown
	}
	for sess := range s.sessions {
		sess.client.Enqueue(m)
	}
}

// greetLocked queues feed_down for a new session while the feed is down.
// s.mu is held, so a concurrent SetFeedUp cannot slip between.
func (s *Server) greetLocked(sess *session) {
	if s.feedDown {
		sess.client.Enqueue(fanout.Message{Data: noticeFeedDown})
	}
}
