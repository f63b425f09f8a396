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
	s := r.s
	rest, _ := strings.CutPrefix(subject, s.prefix)
	if sym, ok := strings.CutPrefix(rest, BookToken+"."); ok {
		if r.depth == nil {
			return true
		}
		if m, err := s.decodeBook(sym, data); err != nil {
			s.refuse(sym, subject, feed.KindBook, err)
		} else {
			r.depth.PublishBook(m)
		}
		return true
	}
	if sym, ok := strings.CutPrefix(rest, StatusToken+"."); ok {
		if r.depth == nil {
			return true
		}
		if st, err := s.decodeStatus(sym, data); err != nil {
			s.refuse(sym, subject, feed.KindStatus, err)
		} else {
			r.depth.PublishStatus(st)
		}
		return true
	}
	return false
}

// decodeBook parses the book message in data, received for the subject's
// symbol sym, and checks it (feed.Book.Validate) and that it is for sym,
// a symbol of the universe.
func (s *Source) decodeBook(sym string, data []byte) (feed.Book, error) {
	name, ok := s.known[sym]
	if !ok {
		return feed.Book{}, fmt.Errorf("nats: %w", feed.RefuseSymbol(feed.ErrBadBook, "%q is not a known symbol", sym))
	}
	m, err := feed.DecodeBook(data)
	if err != nil {
		return feed.Book{}, fmt.Errorf("nats: %w", err)
	}
	if m.Symbol != sym {
		return feed.Book{}, fmt.Errorf("nats: %w", feed.RefuseSymbol(feed.ErrBadBook, "symbol %q on the subject of %q", m.Symbol, sym))
	}
	m.Symbol = name // the long-lived copy
	return m, nil
}

// decodeStatus is decodeBook for a status message.
func (s *Source) decodeStatus(sym string, data []byte) (feed.Status, error) {
	name, ok := s.known[sym]
	if !ok {
		return feed.Status{}, fmt.Errorf("nats: %w", feed.RefuseSymbol(feed.ErrBadStatus, "%q is not a known symbol", sym))
	}
	st, err := feed.DecodeStatus(data)
	if err != nil {
		return feed.Status{}, fmt.Errorf("nats: %w", err)
	}
	if st.Symbol != sym {
		return feed.Status{}, fmt.Errorf("nats: %w", feed.RefuseSymbol(feed.ErrBadStatus, "symbol %q on the subject of %q", st.Symbol, sym))
	}
	st.Symbol = name
	return st, nil
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
