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

// ListingToken is the subject token before the symbol of the publisher's
// listings and delistings: Prefix._ref.SYM. Like HeartbeatToken it names
// no symbol.
const ListingToken = "_ref"

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

// handle decodes one message and hands on its tick, listing, book or
// status, or refuses it (counted, and logged once per symbol, kind and
// reason). Heartbeats only count as heard. Without a DepthSink, book and
// status messages are dropped undecoded: the sink takes ticks and
// listings alone. Which symbols the gateway carries is not judged here:
// the sink (the engine) lists, refuses and counts.
func (r *runner) handle(subject string, data []byte) {
	kind, sym, ok := route(r.s.prefix, subject)
	var err error
	switch {
	case !ok: // a heartbeat
	case kind == feed.KindTick:
		err = ticks.deliver(sym, data, r.sink.Publish)
	case kind == feed.KindListing:
		err = listings.deliver(sym, data, r.sink.List)
	case r.depth == nil:
	case kind == feed.KindBook:
		err = books.deliver(sym, data, r.depth.PublishBook)
	default:
		err = statuses.deliver(sym, data, r.depth.PublishStatus)
	}
	if err != nil {
		r.s.refusals.Refuse(sym, kind, err, "subject", subject)
	}
}

// route tells which kind of message subject carries, under prefix (with
// its trailing '.'), and for which symbol: a tick on Prefix.SYM, a listing
// on Prefix._ref.SYM, a book message on Prefix.book.SYM, a status on
// Prefix.status.SYM. It reports false for a heartbeat (Prefix._hb). The
// Source routes what it receives, and LastMessages what the stream holds,
// by it.
func route(prefix, subject string) (kind feed.Kind, sym string, ok bool) {
	rest := strings.TrimPrefix(subject, prefix)
	if rest == HeartbeatToken {
		return 0, "", false
	}
	if sym, ok := strings.CutPrefix(rest, ListingToken+"."); ok {
		return feed.KindListing, sym, true
	}
	if sym, ok := strings.CutPrefix(rest, BookToken+"."); ok {
		return feed.KindBook, sym, true
	}
	if sym, ok := strings.CutPrefix(rest, StatusToken+"."); ok {
		return feed.KindStatus, sym, true
	}
	return feed.KindTick, rest, true
}

// message is how one kind of message is decoded from NATS: decode parses
// and validates a payload (feed.DecodeJSON, DecodeListing, DecodeBook,
// DecodeStatus), symbol reads the symbol of what it gave, and bad is the
// kind's feed error.
type message[T any] struct {
	bad    error
	decode func([]byte) (T, error)
	symbol func(*T) string
}

var (
	ticks    = message[feed.Tick]{feed.ErrBadTick, feed.DecodeJSON, func(t *feed.Tick) string { return t.Symbol }}
	listings = message[feed.Listing]{feed.ErrBadListing, feed.DecodeListing, func(l *feed.Listing) string { return l.Symbol }}
	books    = message[feed.Book]{feed.ErrBadBook, feed.DecodeBook, func(b *feed.Book) string { return b.Symbol }}
	statuses = message[feed.Status]{feed.ErrBadStatus, feed.DecodeStatus, func(st *feed.Status) string { return st.Symbol }}
)

// deliver decodes data, received on a subject of sym, and hands it to
// publish, or returns why not (decodeFor).
func (k message[T]) deliver(sym string, data []byte, publish func(T)) error {
	m, err := k.decodeFor(sym, data)
	if err == nil {
		publish(m)
	}
	return err
}

// decodeFor decodes and validates data, received on a subject of sym, and
// checks that it is sym's: the payload's symbol must be its subject's.
// Whether the gateway carries sym is the sink's to judge.
func (k message[T]) decodeFor(sym string, data []byte) (T, error) {
	m, err := k.decode(data)
	if err == nil && k.symbol(&m) != sym {
		err = feed.RefuseSymbol(k.bad, "symbol %q on a subject of %q", k.symbol(&m), sym)
	}
	if err != nil {
		var none T
		return none, fmt.Errorf("nats: %w", err)
	}
	return m, nil
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
