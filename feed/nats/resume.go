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

// LastTicks returns the last tick the stream holds of each of symbols
// that has one, in the order of symbols, so that a restarted publisher can
// carry their seqs on in the same epoch and a restart is no reset at all.
// A symbol with no message, or whose last message is not a valid tick of
// it, is left out: it starts again, in a new epoch. Without a stream it
// returns nil. It reads the stream once, through an ordered consumer that
// delivers the last message of each subject, so a universe of 50,000
// symbols costs one pass, not 50,000 requests.
func (p *Publisher) LastTicks(ctx context.Context, symbols []string) ([]feed.Tick, error) {
	if p.stream == "" {
		return nil, nil
	}
	js, err := jetstream.New(p.nc)
	if err != nil {
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, lastTicksTimeout)
	defer cancel()
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
	found := make([]*feed.Tick, len(symbols))
	for pending := cons.CachedInfo().NumPending; pending > 0; {
		batch, err := cons.Fetch(int(min(pending, 1024)), jetstream.FetchContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("nats: stream %s: last ticks: %w", p.stream, err)
		}
		for m := range batch.Messages() {
			if md, err := m.Metadata(); err == nil {
				pending = md.NumPending
			}
			sym := strings.TrimPrefix(m.Subject(), p.prefix)
			if i, ok := index[sym]; ok {
				found[i] = p.lastTick(sym, m.Data())
			}
		}
		if err := batch.Error(); err != nil {
			return nil, fmt.Errorf("nats: stream %s: last ticks: %w", p.stream, err)
		}
	}
	var last []feed.Tick
	for _, t := range found {
		if t != nil {
			last = append(last, *t)
		}
	}
	return last, nil
}

// lastTicksTimeout bounds LastTicks' pass over the stream.
const lastTicksTimeout = 30 * time.Second

// lastTick decodes data, the stream's last message of sym's subject, or
// returns nil if it is not a tick of sym.
func (p *Publisher) lastTick(sym string, data []byte) *feed.Tick {
	t, err := feed.DecodeJSON(data)
	if err != nil || t.Symbol != sym {
		p.log.Warn("last message in the stream is not a tick of its symbol; it starts a new epoch", "symbol", sym, "err", err)
		return nil
	}
	return &t
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
