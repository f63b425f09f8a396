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
// it returns an empty Last. It makes three direct (or API) gets per
// symbol, at start.
func (p *Publisher) LastMessages(ctx context.Context, symbols []string) (Last, error) {
	var last Last
	if p.stream == "" {
		return last, nil
	}
	js, err := jetstream.New(p.nc)
	if err != nil {
		return last, fmt.Errorf("nats: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	st, err := js.Stream(ctx, p.stream)
	if err != nil {
		return last, fmt.Errorf("nats: stream %s: %w", p.stream, err)
	}
	for _, sym := range symbols {
		if err := p.lastOf(ctx, st, sym, &last); err != nil {
			return Last{}, err
		}
	}
	return last, nil
}

// lastOf adds sym's last messages in st to last, if it can carry on. It
// fails only if it cannot read the stream.
func (p *Publisher) lastOf(ctx context.Context, st jetstream.Stream, sym string, last *Last) error {
	var raw [3][]byte // the last tick, book and status message; nil for none
	// Not p.ticks, p.books, p.statuses: Publish owns their caches.
	for i, subject := range [3]string{p.prefix + sym, p.prefix + BookToken + "." + sym, p.prefix + StatusToken + "." + sym} {
		m, err := st.GetLastMsgForSubject(ctx, subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
		case err != nil:
			return fmt.Errorf("nats: stream %s: last message on %s: %w", p.stream, subject, err)
		default:
			raw[i] = m.Data
		}
	}
	if raw[0] == nil {
		return nil // never ticked: nothing to carry on
	}
	if err := last.add(sym, raw); err != nil {
		p.log.Warn("not carrying a symbol on from the stream; it starts a new epoch", "symbol", sym, "err", err)
	}
	return nil
}

// add decodes sym's last tick, book and status message (nil for none) and
// adds them to l, or reports why sym cannot carry on from them.
func (l *Last) add(sym string, raw [3][]byte) error {
	tick, err := feed.DecodeJSON(raw[0])
	check := func(what string, err error, gotSym, gotEpoch string) error {
		switch {
		case err != nil:
			return fmt.Errorf("last %s: %w", what, err)
		case gotSym != sym:
			return fmt.Errorf("last %s is of %s", what, gotSym)
		case gotEpoch != tick.Epoch:
			return fmt.Errorf("last %s is of epoch %q, the last tick of %q", what, gotEpoch, tick.Epoch)
		}
		return nil
	}
	if err := check("tick", err, tick.Symbol, tick.Epoch); err != nil {
		return err
	}
	var book feed.Book
	if raw[1] != nil {
		book, err = feed.DecodeBook(raw[1])
		if err := check("book message", err, book.Symbol, book.Epoch); err != nil {
			return err
		}
	}
	var status feed.Status
	if raw[2] != nil {
		status, err = feed.DecodeStatus(raw[2])
		if err := check("status", err, status.Symbol, status.Epoch); err != nil {
			return err
		}
	}
	l.Ticks = append(l.Ticks, tick)
	if raw[1] != nil {
		l.Books = append(l.Books, book)
	}
	if raw[2] != nil {
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
