// Package feed owns the Tick type, the Source interface that every price
// feed implements, and the optional Readier and Watcher a source with an
// upstream adds. Adapters live in sub-packages named for what they wrap
// (feed/sim, feed/nats, feed/replay). A Source calls its Sink from a single
// goroutine, in feed order; the Sink (the fan-out engine) must not block for
// long, and must not keep the Tick's memory beyond the call except by
// copying the value.
package feed
