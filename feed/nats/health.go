package nats

import (
	"sync"
	"sync/atomic"

	"github.com/tickgate/tickgate/feed"
)

// link is the health state shared by Run and the nats.go callbacks: up
// once connected and confirmed (subscribed, or caught up with the stream)
// and, after an outage, once a tick or heartbeat has been heard again;
// stalled while connected but silent. Every change of Health closes and
// replaces changed, which is how Source.Health's callers wait.
//
// Up means ticks flow: a reconnect to NATS while the publisher is dead is
// not up. The first connection is up once confirmed, as a gateway that
// starts before its publisher is ready for the first tick, and the stall
// limit tells if none comes.
type link struct {
	// waiting mirrors awaiting for Run's receive loop, which reads it per
	// message without taking mu; it is written under mu.
	waiting atomic.Bool

	mu        sync.Mutex // protects the fields below
	epoch     uint64     // bumped by every connect and disconnect
	connected bool
	confirmed bool // a round trip after the subscription succeeded in this epoch
	stalled   bool // confirmed, but nothing heard for longer than the stall limit
	awaiting  bool // connected before and lost since: nothing heard on this connection yet
	changed   chan struct{}
}

func newLink() *link {
	return &link{changed: make(chan struct{})}
}

// healthLocked derives the health from the flags; l.mu is held.
func (l *link) healthLocked() feed.Health {
	switch {
	case !l.connected || !l.confirmed || l.awaiting:
		return feed.Down
	case l.stalled:
		return feed.Stalled
	}
	return feed.Up
}

// update applies f to the flags under the lock and wakes the watchers if
// the health it derives changed.
func (l *link) update(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	before := l.healthLocked()
	f()
	if l.healthLocked() != before {
		close(l.changed)
		l.changed = make(chan struct{})
	}
}

// up records a new connection; the subscription is not yet confirmed on it.
func (l *link) up() {
	l.update(func() {
		l.epoch++
		l.connected, l.confirmed, l.stalled = true, false, false
	})
}

// down records a lost or closed connection. Once connected, a source
// that loses its connection is not up again until it hears the feed.
func (l *link) down() {
	l.update(func() {
		if l.connected {
			l.setAwaitingLocked(true)
		}
		l.epoch++
		l.connected, l.confirmed, l.stalled = false, false, false
	})
}

// heard records a tick or heartbeat received while connected, which ends
// the wait after an outage, and reports whether it did. Run calls it only
// while waiting is set.
func (l *link) heard() (ended bool) {
	l.update(func() {
		if ended = l.connected && l.awaiting; ended {
			l.setAwaitingLocked(false)
		}
	})
	return ended
}

// setAwaitingLocked sets awaiting and its mirror; l.mu is held.
func (l *link) setAwaitingLocked(v bool) {
	l.awaiting = v
	l.waiting.Store(v)
}

// connectedEpoch returns the current epoch if connected.
func (l *link) connectedEpoch() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.connected
}

// subscribed marks the subscription confirmed, unless the connection
// changed since epoch (then the confirmation was for an older one).
func (l *link) subscribed(epoch uint64) {
	l.update(func() {
		if l.epoch == epoch && l.connected {
			l.confirmed = true
		}
	})
}

// setStalled records whether the feed has fallen silent.
func (l *link) setStalled(stalled bool) {
	l.update(func() { l.stalled = stalled && l.connected && l.confirmed })
}

// health returns the current health and the channel closed at its next
// change.
func (l *link) health() (feed.Health, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.healthLocked(), l.changed
}

// isStalled reports the stalled flag, for the metric.
func (l *link) isStalled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stalled
}
