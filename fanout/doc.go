// Package fanout owns the sharded fan-out engine: the universe of symbols
// the feed lists and delists while it runs (a lock-free table for lookups,
// bounded by a pattern and a count, and one place that retires a symbol),
// symbol to shard, the subscriptions of each symbol (client plus policy,
// judged once by Subscribe), its epoch (the run its seqs belong to: a new
// one resets the symbol, a retired one is dropped), its last tick, its
// order book and trading status, what each topic keeps (its snapshot and
// history, as records in a ring that knows its holes) under one memory
// budget, encode-once into each shard's arena, the schedules of work due
// later (rate slots, progress updates, delay releases, bar closes, stale
// statuses, idle retirement), and each client's bounded queue, FIFO or
// conflating (book updates merged by price level). The feed calls
// Engine.Publish, List, PublishBook and PublishStatus (feed.DepthSink)
// from one goroutine; sessions call Subscribe, Unsubscribe and the Client
// methods from their own. Each shard goroutine holds only its own lock
// while it delivers or runs its schedules, so no lock is global on the
// tick path, and a delivery never blocks on a client: a lagging queue
// conflates (past its mark, or when its writer says the client is behind:
// mode.go), and one that overflows even so closes its client with
// ErrSlowConsumer.
package fanout
