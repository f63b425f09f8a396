// Package feed owns the Tick type, the order-book and trading-status
// messages (Book, Status) a feed may carry beside ticks, with the book
// checksum clients verify, the Source interface that every price feed
// implements, the Sink and DepthSink a source hands its messages to, the
// optional Watcher and PrevCloser a source adds when it has an upstream or
// knows the previous close, and Follow, the one rule
// for turning a Watcher's health into what clients are told, and NewEpoch,
// the one way a source names a new run of seq numbering.
// Adapters live in sub-packages named for what they wrap: feed/sim (the
// simulator), feed/nats (a NATS subject tree or JetStream stream) and
// feed/replay (a recorded file). A Source calls its Sink from a single
// goroutine, in feed order; the Sink (the fan-out engine) must not block
// for long, and must not keep the Tick's memory beyond the call except by
// copying the value.
package feed
