package nats

import (
	"context"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startTimeout bounds creating the stream consumer.
const startTimeout = 5 * time.Second

// streamReader reads Prefix.> from a JetStream stream through an ordered
// consumer: one the client library recreates after a reconnect, a missed
// server heartbeat or a sequence gap, starting after the last stream
// sequence it delivered. So Run resumes where it stopped, and the engine,
// which drops any tick whose seq is not above the symbol's last, sees no
// repeat. Its fields are owned by Run's goroutine, except msgs and done,
// which the consumer's callback goroutine uses too.
type streamReader struct {
	s    *Source
	js   jetstream.JetStream
	msgs chan jetstream.Msg // from the consumer's callback to Run
	done chan struct{}      // closed by stop: the callback gives up sending
	cc   jetstream.ConsumeContext

	backlog   uint64 // messages pending when the consumer was created
	delivered uint64 // messages received since, until caughtUp
	caughtUp  bool
	attempts  int // failed starts in a row
}

func newStreamReader(s *Source, nc *natsgo.Conn) (*streamReader, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	return &streamReader{
		s:    s,
		js:   js,
		msgs: make(chan jetstream.Msg, 1024),
		done: make(chan struct{}),
	}, nil
}

// started reports whether the consumer runs.
func (j *streamReader) started() bool { return j.cc != nil }

// start creates the ordered consumer from the stream's first message and
// starts consuming. The consumer's pending count at creation is the replay
// Run must get through before it reports ready.
func (j *streamReader) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cons, err := j.js.OrderedConsumer(ctx, j.s.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{j.s.prefix + ">"},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		j.attempts++
		return fmt.Errorf("nats: stream %s: %w", j.s.stream, err)
	}
	if info := cons.CachedInfo(); info != nil {
		j.backlog = info.NumPending
	}
	cc, err := cons.Consume(j.receive, jetstream.ConsumeErrHandler(j.consumeError))
	if err != nil {
		j.attempts++
		return fmt.Errorf("nats: stream %s: consume: %w", j.s.stream, err)
	}
	j.cc, j.attempts = cc, 0
	j.caughtUp = j.backlog == 0
	j.s.log.Info("reading stream", "stream", j.s.stream, "backlog", j.backlog)
	return nil
}

// retryDelay is the wait before the next start attempt.
func (j *streamReader) retryDelay() time.Duration {
	return backoff(j.s.wait, maxReconnectWait)(max(j.attempts, 1))
}

// receive runs on the consumer's callback goroutine. It blocks while Run
// is busy, which holds back the consumer's next pull: flow control, not
// loss.
func (j *streamReader) receive(m jetstream.Msg) {
	select {
	case j.msgs <- m:
	case <-j.done:
	}
}

// consumeError runs on the consumer's goroutines for errors such as a
// missed heartbeat; the ordered consumer recovers by itself.
func (j *streamReader) consumeError(_ jetstream.ConsumeContext, err error) {
	j.s.connWarn.Do(func() {
		j.s.log.Warn("stream consumer error (warnings limited to 1/s)", "stream", j.s.stream, "err", err)
	})
}

// count counts m toward the replay and reports whether it completes it:
// the backlog is delivered, or the server says nothing more is pending
// (messages the stream dropped meanwhile, by its limits, are never
// delivered, so the count alone could fall short).
func (j *streamReader) count(m jetstream.Msg) bool {
	if j.caughtUp {
		return false
	}
	j.delivered++
	md, err := m.Metadata()
	if j.delivered >= j.backlog || err == nil && md.NumPending == 0 {
		j.caughtUp = true
	}
	return j.caughtUp
}

// stop ends consuming; Run is no longer reading msgs.
func (j *streamReader) stop() {
	close(j.done)
	if j.cc != nil {
		j.cc.Stop()
	}
}
