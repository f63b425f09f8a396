// Package sim owns the simulated price feed, the gateway's default Source
// when no real feed is configured. cmd/gateway builds it with New and calls
// Run once, with the fan-out engine as its sink (`gateway publish` passes a
// NATS publisher instead). Run calls the sink from its own goroutine only,
// one message at a time, until its context is done: ticks, and, when the
// sink is a feed.DepthSink, each symbol's trading status (with
// Config.HaltsPerHour, halts and reopenings) and, with Config.Book, its
// order book (a snapshot, then the changed levels), in feed order: a trade
// is at the touch of the book its receiver holds. For a given Seed, Rate,
// symbol list and book and halt settings the messages are the same on
// every run, apart from their wall-clock TS and their Epoch, so tests and
// load runs can be repeated and yet no receiver takes one run's seqs for
// another's. Config.Resume carries symbols on from an earlier run's last
// messages instead; Config.Backfill makes Run first publish a synthetic
// past of ticks (backfill.go). PrevClose gives each symbol's previous
// close, the reference for the day's change.
package sim
