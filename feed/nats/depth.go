package nats

import (
	"fmt"
	"strings"

	"github.com/tickgate/tickgate/feed"
)

// Subject tokens of the order-book and trading-status messages: a symbol's
// book snapshots and updates go on Prefix.book.SYM, its status on
// Prefix.status.SYM, beside its ticks on Prefix.SYM. Symbols are upper
// case, so neither token is ever taken for one, and the one Prefix.>
// subscription (or stream) carries all three in publish order.
const (
	BookToken   = "book"
	StatusToken = "status"
)

// PublishBook publishes m in its upstream form (feed.Book.AppendUpstreamJSON,
// with its epoch) on Prefix.book.SYM. It is counted, dropped while
// disconnected and acked like a tick (Publish), and allocates nothing.
func (p *Publisher) PublishBook(m feed.Book) {
	p.buf = m.AppendUpstreamJSON(p.buf[:0])
	p.send(p.books.of(m.Symbol))
}

// PublishStatus publishes st in its upstream form on Prefix.status.SYM, as
// PublishBook does.
func (p *Publisher) PublishStatus(st feed.Status) {
	p.buf = st.AppendUpstreamJSON(p.buf[:0])
	p.send(p.statuses.of(st.Symbol))
}

// handleDepth hands a book or status message on to the DepthSink, or
// refuses it, and reports true; for any other subject (a tick's) it
// reports false. Without a DepthSink such messages are dropped undecoded:
// the sink takes ticks alone.
func (r *runner) handleDepth(subject string, data []byte) bool {
	rest, _ := strings.CutPrefix(subject, r.s.prefix)
	if sym, ok := strings.CutPrefix(rest, BookToken+"."); ok {
		if r.depth != nil {
			books.deliver(r.s, sym, subject, data, r.depth.PublishBook)
		}
		return true
	}
	if sym, ok := strings.CutPrefix(rest, StatusToken+"."); ok {
		if r.depth != nil {
			statuses.deliver(r.s, sym, subject, data, r.depth.PublishStatus)
		}
		return true
	}
	return false
}

// depthKind is how the source decodes one kind of message beside ticks.
type depthKind[T any] struct {
	kind   feed.Kind
	bad    error                   // the feed error of the kind: ErrBadBook, ErrBadStatus
	decode func([]byte) (T, error) // decodes and validates
	symbol func(*T) *string        // the message's symbol
}

var (
	books = depthKind[feed.Book]{feed.KindBook, feed.ErrBadBook, feed.DecodeBook,
		func(m *feed.Book) *string { return &m.Symbol }}
	statuses = depthKind[feed.Status]{feed.KindStatus, feed.ErrBadStatus, feed.DecodeStatus,
		func(st *feed.Status) *string { return &st.Symbol }}
)

// deliver decodes data, received on subject for the symbol sym, and hands
// it to publish, or refuses it: a message that does not decode or
// validate, or that is not for sym, a symbol of the universe.
func (k depthKind[T]) deliver(s *Source, sym, subject string, data []byte, publish func(T)) {
	m, err := k.decodeFor(s, sym, data)
	if err != nil {
		s.refuse(sym, subject, k.kind, err)
		return
	}
	publish(m)
}

// decodeFor is deliver's decoding and checks.
func (k depthKind[T]) decodeFor(s *Source, sym string, data []byte) (T, error) {
	var none T
	name, ok := s.known[sym]
	if !ok {
		return none, fmt.Errorf("nats: %w", feed.RefuseSymbol(k.bad, "%q is not a known symbol", sym))
	}
	m, err := k.decode(data)
	if err != nil {
		return none, fmt.Errorf("nats: %w", err)
	}
	p := k.symbol(&m)
	if *p != sym {
		return none, fmt.Errorf("nats: %w", feed.RefuseSymbol(k.bad, "symbol %q on the subject of %q", *p, sym))
	}
	*p = name // the long-lived copy
	return m, nil
}

// refuse counts and logs a message of kind refused for err, received on
// subject for the symbol sym names there. The log remembers refusals per
// symbol, so one outside the universe is remembered as "".
func (s *Source) refuse(sym, subject string, kind feed.Kind, err error) {
	if _, ok := s.known[sym]; !ok {
		sym = ""
	}
	s.refusals.Refuse(sym, kind, err, "subject", subject)
}
