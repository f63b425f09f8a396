// Package nats adapts a NATS subject tree to feed.Source, and feed.Sink to
// NATS publishes. cmd/gateway builds a Source with New and calls Run once,
// with the fan-out engine as its sink; Run calls sink.Publish from its own
// goroutine only, in the order NATS delivers. A Publisher, on a connection
// from Dial, lets a producer (the `gateway publish` command) put the sim feed
// or a replay onto NATS, so seqs are assigned once upstream and every gateway
// sees the same ones.
// Ready may be called from any goroutine; it reports false until the
// subscription is confirmed by a server and again while reconnecting.
package nats
