package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickgate/tickgate/feed"
)

// HeartbeatToken is the last subject token of the publisher's heartbeats:
// Prefix._hb. Symbols are upper case, so it names none.
const HeartbeatToken = "_hb"

// stallChecks is how many times per StallAfter Run looks for silence, so a
// stall is reported between StallAfter and 1.25 StallAfter after the last
// message.
const stallChecks = 4

// Run connects, subscribes to Prefix.> (or, with a stream, reads it through
// an ordered consumer from its first message) and publishes each valid tick
// into sink until ctx is done, then closes the connection and returns nil.
//
// Run does not fail when no server is reachable: it keeps retrying with
// backoff, unready, for as long as ctx lives, and likewise after a lost
// connection or while the stream is missing. It returns an error only if it
// cannot start, or if nats.go gives up on the connection (for example after
// repeated auth failures). Upstream seq and ts are passed on unchanged.
func (s *Source) Run(ctx context.Context, sink feed.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("nats: Run called more than once")
	}
	closed := make(chan struct{})
	nc, err := s.dialer(closed).dial()
	if err != nil {
		return err
	}
	r := &runner{s: s, nc: nc, sink: sink}
	r.depth, _ = sink.(feed.DepthSink)
	defer s.close(r, closed)
	if s.stream == "" {
		r.msgs = make(chan *natsgo.Msg, s.pending)
		sub, err := nc.ChanSubscribe(s.prefix+">", r.msgs)
		if err != nil {
			return fmt.Errorf("nats: subscribe %s>: %w", s.prefix, err)
		}
		s.sub.Store(sub)
	} else if r.js, err = newStreamReader(s, nc); err != nil {
		return err
	}
	s.kickRun() // the connect callback may have fired before the subscribe
	return r.loop(ctx, closed)
}

// runner is Run's state, owned by Run's goroutine.
type runner struct {
	s     *Source
	nc    *natsgo.Conn
	sink  feed.Sink
	depth feed.DepthSink   // sink, if it takes books and status; else they are dropped
	msgs  chan *natsgo.Msg // core NATS; nil with a stream
	js    *streamReader    // nil without a stream

	heard   uint64 // messages received, ticks and heartbeats alike
	checked uint64 // heard at the last stall check
	quiet   int    // stall checks in a row that found nothing heard
	stalled bool   // what Run last told link
}

// loop is Run's receive loop. Between messages it confirms the
// subscription after each (re)connect, retrying while a confirmation
// fails, and watches for silence.
func (r *runner) loop(ctx context.Context, closed <-chan struct{}) error {
	var retry <-chan time.Time
	var stall <-chan time.Time
	if r.s.stallAfter > 0 {
		t := time.NewTicker(r.s.stallAfter / stallChecks)
		defer t.Stop()
		stall = t.C
	}
	var jsMsgs <-chan jetstream.Msg
	if r.js != nil {
		jsMsgs = r.js.msgs
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-closed:
			return fmt.Errorf("nats: connection closed: %w", r.nc.LastError())
		case m := <-r.msgs:
			r.heardOne()
			r.handle(m.Subject, m.Data)
		case m := <-jsMsgs:
			r.heardOne()
			r.handle(m.Subject(), m.Data())
			if r.js.count(m) {
				r.caughtUp() // after handing on the last replayed tick
			}
		case <-r.s.kick:
			r.quiet, r.stalled = 0, false // a new connection: give the feed time
			retry = r.confirm(ctx)
		case <-retry:
			retry = r.confirm(ctx)
		case <-stall:
			r.checkStall()
		}
	}
}

// heardOne notes a message, and ends a stall, or the wait for the feed
// after an outage, at once.
func (r *runner) heardOne() {
	r.heard++
	if r.s.link.waiting.Load() && r.s.link.heard() {
		r.s.log.Info("feed flowing again after the outage")
	}
	if r.stalled {
		r.stalled = false
		r.s.link.setStalled(false)
		r.s.log.Info("feed resumed")
	}
}

// checkStall reports the feed stalled once stallChecks checks in a row,
// StallAfter in all, have found nothing heard.
func (r *runner) checkStall() {
	if r.heard != r.checked {
		r.checked, r.quiet = r.heard, 0
		return
	}
	if r.quiet++; r.quiet < stallChecks || r.stalled {
		return
	}
	if h, _ := r.s.link.health(); h != feed.Up {
		return // down already, or not yet confirmed
	}
	r.stalled = true
	r.s.link.setStalled(true)
	r.s.metrics.stalls.Inc()
	r.s.log.Warn("feed stalled: no ticks or heartbeats", "for", r.s.stallAfter)
}

// confirm makes a round trip to the server. A server handles a client's
// protocol in order, so a PONG means it has the subscription; only then is
// the source ready. With a stream, the consumer is started first if it has
// not been, and readiness waits for the replay (see caughtUp). It returns
// a channel that fires when confirm should be retried, or nil.
func (r *runner) confirm(ctx context.Context) <-chan time.Time {
	s := r.s
	epoch, ok := s.link.connectedEpoch()
	if !ok {
		return nil // not connected: the next connect kicks again
	}
	if r.js != nil {
		if !r.js.started() {
			if err := r.js.start(ctx); err != nil {
				s.connWarn.Do(func() {
					s.log.Warn("stream consumer not started, retrying (warnings limited to 1/s)", "stream", s.stream, "err", err)
				})
				return time.After(r.js.retryDelay())
			}
		}
		if !r.js.caughtUp {
			return nil // the replay confirms once it has caught up
		}
	}
	if err := r.nc.FlushTimeout(flushTimeout); err != nil {
		s.log.Warn("subscription not confirmed, retrying", "err", err)
		return time.After(s.wait)
	}
	s.link.subscribed(epoch)
	return nil
}

// caughtUp marks the source ready once the stream's replay has reached
// what the stream held when the consumer started.
func (r *runner) caughtUp() {
	if epoch, ok := r.s.link.connectedEpoch(); ok {
		r.s.link.subscribed(epoch)
	}
	r.s.log.Info("caught up with the stream", "stream", r.s.stream, "replayed", r.js.delivered)
}

// handle decodes one message and hands it on, or refuses it (counted, and
// logged once per symbol, kind and reason). Heartbeats only count as
// heard.
func (r *runner) handle(subject string, data []byte) {
	s := r.s
	if subject == s.heartbeat {
		return
	}
	if r.handleDepth(subject, data) {
		return
	}
	t, err := s.decode(subject, data)
	if err != nil {
		s.refuse(strings.TrimPrefix(subject, s.prefix), subject, feed.KindTick, err)
		return
	}
	r.sink.Publish(t)
}

// decode parses the tick in data, received on subject, and checks that it
// is for the subject's symbol and that the symbol is in the universe.
func (s *Source) decode(subject string, data []byte) (feed.Tick, error) {
	sym, ok := strings.CutPrefix(subject, s.prefix)
	if ok {
		sym, ok = s.known[sym]
	}
	if !ok {
		return feed.Tick{}, fmt.Errorf("nats: %w", feed.RefuseSymbol(feed.ErrBadTick, "subject %q names no known symbol", subject))
	}
	t, err := feed.DecodeJSON(data)
	if err != nil {
		return feed.Tick{}, fmt.Errorf("nats: %w", err)
	}
	if t.Symbol != sym {
		return feed.Tick{}, fmt.Errorf("nats: %w", feed.RefuseSymbol(feed.ErrBadTick, "symbol %q on subject %q", t.Symbol, subject))
	}
	t.Symbol = sym // the long-lived copy: the engine keeps the last tick
	return t, nil
}

// close stops the stream consumer, if any, closes nc and waits for its
// closed callback, so that nats.go's callback goroutine has finished with
// s when Run returns. It closes rather than drains: the messages a drain
// would deliver have no sink to go to once Run has stopped.
func (s *Source) close(r *runner, closed <-chan struct{}) {
	if sub := s.sub.Load(); sub != nil {
		if n, err := sub.Dropped(); err == nil {
			s.dropBase.Store(int64(n))
		}
		s.sub.Store(nil)
	}
	if r.js != nil {
		r.js.stop()
	}
	r.nc.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		s.log.Warn("closed callback did not run within 5s")
	}
	s.link.down()
}

// dropped is the number of messages nats.go dropped for a full channel.
func (s *Source) dropped() float64 {
	if sub := s.sub.Load(); sub != nil {
		if n, err := sub.Dropped(); err == nil {
			return float64(n)
		}
	}
	return float64(s.dropBase.Load())
}
