// Package fanout owns the sharded fan-out engine: symbol to shard, the
// subscriber set and last tick of each symbol, encode-once, and each client's
// bounded queue. The feed calls Engine.Publish from one goroutine; sessions
// call Subscribe, Unsubscribe and the Client queue methods from their own.
// Each shard goroutine holds only its own lock while it delivers, so no lock
// is global on the tick path, and a delivery never blocks on a client: a
// queue that overflows closes its client with ErrSlowConsumer.
package fanout
