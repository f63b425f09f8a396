package feed

// Health is the state of a source's upstream, as the gateway tells clients
// (feed_down / feed_up notices) and load balancers (/readyz).
type Health uint8

const (
	// Up: connected and hearing from the feed.
	Up Health = iota
	// Down: the upstream is unreachable, or the source has not yet caught up
	// after starting.
	Down
	// Stalled: connected, but neither ticks nor heartbeats have arrived for
	// longer than the source's stall limit; the publisher is gone or stuck.
	Stalled
)

// String returns "up", "down" or "stalled".
func (h Health) String() string {
	switch h {
	case Up:
		return "up"
	case Down:
		return "down"
	case Stalled:
		return "stalled"
	}
	return "unknown"
}

// Watcher is implemented by a Source whose upstream can fail or fall silent
// while Run goes on. Health returns the current state and a channel closed
// at the next change, so a caller follows it with
//
//	for {
//		h, changed := src.Health()
//		act(h)
//		<-changed
//	}
//
// and sees the latest state after any burst of changes, never a stale one.
// Health is safe for concurrent use.
type Watcher interface {
	Health() (Health, <-chan struct{})
}
