// Package nats adapts a NATS subject tree, or a JetStream stream over it,
// to feed.Source, and feed.DepthSink to NATS publishes. cmd/gateway builds
// a Source with New and calls Run once; Run calls the sink from its own
// goroutine only, in the order NATS (or the stream) delivers: ticks and
// listings, and book and status messages when the sink is a
// feed.DepthSink, each kind decoded and refused in one place (run.go).
// Ready and Health may be called from any goroutine: the source is down
// until a server confirms the subscription (with a stream: until it has
// replayed what the stream held) and, after an outage, until a tick or
// heartbeat is heard again; stalled while connected but silent; up
// otherwise.
// A Publisher, made by Connect, lets a producer (the `gateway publish`
// command) put the sim feed or a replay onto NATS, each message with its
// epoch, heartbeats with the run's, and with a stream for acks in a bounded
// window, so seqs are assigned once upstream and every gateway sees the
// same ones.
package nats
