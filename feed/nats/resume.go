package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickgate/tickgate/feed"
)

// Last is what an earlier run left in the stream for the symbols that can
// carry on from it (LastMessages): each one's last tick and, of the same
// epoch, its last book and status message where it has one.
type Last struct {
	Ticks  []feed.Tick
	Books  []feed.Book
	Status []feed.Status
}

// LastMessages returns the last tick the stream holds of each of symbols
// that has one, in the order of symbols, and that symbol's last book and
// status message, so that a restarted publisher can carry their seqs on in
// the same epoch and a restart is no reset at all. A symbol is left out,
// to start again in a new epoch, if it has no tick, if its last message of
// any kind is not a valid one of it, or if its last book or status message
// is of another epoch than its last tick (a later run that sent those and
// no tick: a gateway has moved on to that run's epoch). Without a stream
// it returns an empty Last. It reads the stream once, through an ordered
// consumer that delivers the last message of each subject, so a universe
// of 50,000 symbols costs one pass, not 150,000 requests.
func (p *Publisher) LastMessages(ctx context.Context, symbols []string) (Last, error) {
	var last Last
	if p.stream == "" {
		return last, nil
	}
	ctx, cancel := context.WithTimeout(ctx, lastMessagesTimeout)
	defer cancel()
	raw, err := p.lastPerSubject(ctx, symbols)
	if err != nil {
		return Last{}, err
	}
	for i, sym := range symbols {
		if raw[i][feed.KindTick] == nil {
			continue // never ticked: nothing to carry on
		}
		if err := last.add(sym, raw[i]); err != nil {
			p.log.Warn("not carrying a symbol on from the stream; it starts a new epoch", "symbol", sym, "err", err)
		}
	}
	return last, nil
}

// lastMessagesTimeout bounds LastMessages' pass over the stream.
const lastMessagesTimeout = 30 * time.Second

// lastPerSubject reads the stream's last message of every subject under
// Prefix and returns, for each of symbols, its last tick, book and status
// message (by feed.Kind; nil for none). It fails only if it cannot read
// the stream.
func (p *Publisher) lastPerSubject(ctx context.Context, symbols []string) ([][3][]byte, error) {
	js, err := jetstream.New(p.nc)
	if err != nil {
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	cons, err := js.OrderedConsumer(ctx, p.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{p.prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", p.stream, err)
	}
	index := make(map[string]int, len(symbols))
	for i, sym := range symbols {
		index[sym] = i
	}
	raw := make([][3][]byte, len(symbols))
	for pending := cons.CachedInfo().NumPending; pending > 0; {
		batch, err := cons.Fetch(int(min(pending, 1024)), jetstream.FetchContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("nats: stream %s: last messages: %w", p.stream, err)
		}
		for m := range batch.Messages() {
			if md, err := m.Metadata(); err == nil {
				pending = md.NumPending
			}
			kind, sym, ok := route(p.prefix, m.Subject())
			if i, known := index[sym]; ok && known && kind != feed.KindListing {
				raw[i][kind] = m.Data()
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("nats: stream %s: last messages: %w", p.stream, err)
		}
	}
	return raw, nil
}

// add decodes sym's last tick, book and status message (by feed.Kind;
// nil for none) and adds them to l, or reports why sym cannot carry on
// from them.
func (l *Last) add(sym string, raw [3][]byte) error {
	tick, err := ticks.decodeFor(sym, raw[feed.KindTick])
	if err != nil {
		return fmt.Errorf("last tick: %w", err)
	}
	sameEpoch := func(what, epoch string, err error) error {
		switch {
		case err != nil:
			return fmt.Errorf("last %s: %w", what, err)
		case epoch != tick.Epoch:
			return fmt.Errorf("last %s is of epoch %q, the last tick of %q", what, epoch, tick.Epoch)
		}
		return nil
	}
	var book feed.Book
	if raw[feed.KindBook] != nil {
		book, err = books.decodeFor(sym, raw[feed.KindBook])
		if err := sameEpoch("book message", book.Epoch, err); err != nil {
			return err
		}
	}
	var status feed.Status
	if raw[feed.KindStatus] != nil {
		status, err = statuses.decodeFor(sym, raw[feed.KindStatus])
		if err := sameEpoch("status", status.Epoch, err); err != nil {
			return err
		}
	}
	l.Ticks = append(l.Ticks, tick)
	if raw[feed.KindBook] != nil {
		l.Books = append(l.Books, book)
	}
	if raw[feed.KindStatus] != nil {
		l.Status = append(l.Status, status)
	}
	return nil
}

// OtherPublisher reports whether something else publishes on Prefix.>
// (ticks or heartbeats) within d: another publisher is running. A
// publisher that would carry seqs on from the stream must not when one
// is, or the two would number the same epoch's seqs twice, with different
// prices, and no gateway could tell; in a new epoch of its own, gateways
// see two epochs interleave and count and alarm it. It can miss a live
// publisher that sends nothing within d (a quiet feed between heartbeats).
func (p *Publisher) OtherPublisher(d time.Duration) (bool, error) {
	sub, err := p.nc.SubscribeSync(p.prefix + ">")
	if err != nil {
		return false, fmt.Errorf("nats: subscribe %s>: %w", p.prefix, err)
	}
	defer sub.Unsubscribe()
	if err := p.nc.FlushTimeout(flushTimeout); err != nil {
		return false, fmt.Errorf("nats: subscribe %s>: %w", p.prefix, err)
	}
	_, err = sub.NextMsg(d)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, natsgo.ErrTimeout):
		return false, nil
	}
	return false, fmt.Errorf("nats: listen on %s>: %w", p.prefix, err)
}
