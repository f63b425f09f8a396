package nats

import (
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
