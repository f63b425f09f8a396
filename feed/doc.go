// Package feed owns the Tick type and the Source interface that every price
// feed implements. Adapters live in sub-packages named for what they wrap:
// feed/sim (the simulator), feed/nats (a NATS subject tree) and feed/replay
// (a recorded file). A Source calls its Sink from a single goroutine, in feed
// order; the Sink (the fan-out engine) must not block for long, and must not
// keep the Tick's memory beyond the call except by copying the value.
package feed
