// Package feed owns the Tick type, the order-book and trading-status
// messages (Book, Status) a feed may carry beside ticks, with the book
// checksum clients verify, the Listing type (reference data: a symbol
// listed, with its previous close, or delisted), the Source interface
// every price feed implements, the Sink and DepthSink a source hands its
// messages to, the optional Watcher a source adds when it has an
// upstream, and Follow, the one rule for turning a Watcher's health into
// what clients are told, and NewEpoch, the one way a source names a new
// run of seq numbering.
// Adapters live in sub-packages named for what they wrap: feed/sim (the
// simulator), feed/nats (a NATS subject tree or JetStream stream) and
// feed/replay (a recorded file). A Source may start with no symbols: it
// lists them as it runs (Sink.List, or a symbol's first tick). It calls
// its Sink from a single goroutine, in feed order; the Sink (the fan-out
// engine) must not block for long, and must not keep the Tick's memory
// beyond the call except by copying the value.
package feed
