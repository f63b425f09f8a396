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

// LastTicks returns the last tick the stream holds of each of symbols
// that has one, in the order of symbols, so that a restarted publisher can
// carry their seqs on in the same epoch and a restart is no reset at all.
// A symbol with no message, or whose last message is not a valid tick of
// it, is left out: it starts again, in a new epoch. Without a stream it
// returns nil. It makes one direct (or API) get per symbol, at start.
func (p *Publisher) LastTicks(ctx context.Context, symbols []string) ([]feed.Tick, error) {
	if p.stream == "" {
		return nil, nil
	}
	js, err := jetstream.New(p.nc)
	if err != nil {
		return nil, fmt.Errorf("nats: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	st, err := js.Stream(ctx, p.stream)
	if err != nil {
		return nil, fmt.Errorf("nats: stream %s: %w", p.stream, err)
	}
	var last []feed.Tick
	for _, sym := range symbols {
		m, err := st.GetLastMsgForSubject(ctx, p.prefix+sym) // not p.subject: Publish owns its cache
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("nats: stream %s: last tick of %s: %w", p.stream, sym, err)
		}
		t, err := feed.DecodeJSON(m.Data)
		if err != nil || t.Symbol != sym {
			p.log.Warn("last message in the stream is not a tick of its symbol; it starts a new epoch", "symbol", sym, "err", err)
			continue
		}
		last = append(last, t)
	}
	return last, nil
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
