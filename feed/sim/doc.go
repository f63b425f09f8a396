// Package sim owns the simulated price feed, the gateway's default Source
// when no real feed is configured. cmd/gateway builds it with New and calls
// Run once, with the fan-out engine as its sink (`gateway publish` passes a
// NATS publisher instead). Run calls sink.Publish from its own goroutine
// only, one tick at a time, until its context is done. For a given Seed, Rate
// and symbol list the ticks are the same on every run, apart from their
// wall-clock TS and their Epoch, so tests and load runs can be repeated and
// yet no receiver takes one run's seqs for another's. Config.Resume carries
// symbols on from an earlier run's last ticks instead; Config.Backfill
// makes Run first publish a synthetic past (backfill.go). PrevClose gives
// each symbol's previous close, the reference for the day's change.
package sim
