package feed

import (
	"context"
	"log/slog"
)

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

// Follow follows w until ctx is done and calls tell with whether the feed
// is up: at once, then after each change. A change that finds the feed up,
// as it was, means it went down and came back between two looks (a blip:
// only down or stalled follow up), so tell gets false and then true, since
// ticks may have been lost in it. Changes are logged to log; the first
// look logs only a feed that is not up.
func Follow(ctx context.Context, w Watcher, tell func(up bool), log *slog.Logger) {
	wasUp := true
	for first := true; ; first = false {
		h, changed := w.Health()
		up := h == Up
		if up != wasUp {
			log.Info("feed health changed; telling clients", "health", h)
		}
		if up && wasUp && !first {
			log.Info("feed went down and came back; telling clients")
			tell(false)
		}
		tell(up)
		wasUp = up
		select {
		case <-changed:
		case <-ctx.Done():
			return
		}
	}
}
