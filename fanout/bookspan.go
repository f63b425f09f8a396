package fanout

import "github.com/tickgate/tickgate/feed"

// A bookSpan is a book message in structured form, standing for the n
// book messages after from up to seq: a snapshot, or an update of the
// levels that changed, size 0 removing one. It is what the engine merges
// (keyed conflation): a rate class's held updates (rate.go), a lagging
// client's queued ones (queue.go) and the delay line's under its byte
// bound (delay_depth.go) all fold later messages into one span with add,
// and encode it once with appendJSON.
//
// The merge rules: per price level the latest size wins; a level the span
// inserted (absent from the book before the span began) and a later
// message removes drops out of the span altogether, as the receiver never
// had it; a snapshot replaces the span, and an update folded into a
// snapshot span applies to it, so the span stays a snapshot. The merged
// span carries the last message's seq, time and checksum (that of the
// book after it), and n, the count of messages it stands for.
type bookSpan struct {
	snapshot   bool
	bids, asks bookSide
	from       uint64 // the seq the span follows on from: its first message's seq less its count
	seq        uint64 // the last message's seq
	ts         int64  // the last message's feed time
	n          int64  // messages the span stands for
	checksum   uint32 // of the book after the span
	spare      bookSide
}

// bookSide is one side of a span, best first, with for each level whether
// the span inserted it (see bookSpan; always false in a snapshot).
type bookSide struct {
	levels   []feed.Level
	inserted []bool
}

func (sd *bookSide) reset() {
	sd.levels, sd.inserted = sd.levels[:0], sd.inserted[:0]
}

func (sd *bookSide) push(l feed.Level, inserted bool) {
	sd.levels = append(sd.levels, l)
	sd.inserted = append(sd.inserted, inserted)
}

func (sd *bookSide) copyFrom(o *bookSide) {
	sd.levels = append(sd.levels[:0], o.levels...)
	sd.inserted = append(sd.inserted[:0], o.inserted...)
}

// reset empties the span, keeping its arrays.
func (sp *bookSpan) reset() {
	sp.bids.reset()
	sp.asks.reset()
	sp.snapshot, sp.from, sp.seq, sp.ts, sp.n, sp.checksum = false, 0, 0, 0, 0, 0
}

// copyFrom makes sp a copy of o.
func (sp *bookSpan) copyFrom(o *bookSpan) {
	sp.bids.copyFrom(&o.bids)
	sp.asks.copyFrom(&o.asks)
	sp.snapshot, sp.from, sp.seq, sp.ts, sp.n, sp.checksum = o.snapshot, o.from, o.seq, o.ts, o.n, o.checksum
}

// setBook makes sp the book message b standing for n messages, its
// levels as they are (none marked inserted).
func (sp *bookSpan) setBook(b *feed.Book, n int64) {
	sp.reset()
	for _, l := range b.Bids {
		sp.bids.push(l, false)
	}
	for _, l := range b.Asks {
		sp.asks.push(l, false)
	}
	sp.snapshot, sp.seq, sp.ts, sp.n = b.Snapshot, b.Seq, b.TS, n
	sp.from = b.Seq - min(uint64(n), b.Seq)
}

// book is sp as a feed.Book of symbol sym and epoch ep; it shares sp's
// level arrays.
func (sp *bookSpan) book(sym, ep string) feed.Book {
	return feed.Book{Symbol: sym, Seq: sp.seq, TS: sp.ts, Epoch: ep, Snapshot: sp.snapshot, Bids: sp.bids.levels, Asks: sp.asks.levels}
}

// levels is the count of levels on both sides.
func (sp *bookSpan) levels() int { return len(sp.bids.levels) + len(sp.asks.levels) }

// add folds o, the message (or span) that follows sp, into sp by the
// merge rules above.
func (sp *bookSpan) add(o *bookSpan) {
	n := sp.n + o.n
	from := sp.from
	if o.snapshot {
		sp.copyFrom(o)
	} else {
		sp.mergeSide(&sp.bids, &o.bids, true)
		sp.mergeSide(&sp.asks, &o.asks, false)
		sp.seq, sp.ts, sp.checksum = o.seq, o.ts, o.checksum
	}
	sp.n, sp.from = n, from
}

// mergeSide folds the changes ch into the side a, both best first.
func (sp *bookSpan) mergeSide(a, ch *bookSide, bid bool) {
	out := &sp.spare
	out.reset()
	i, j := 0, 0
	for i < len(a.levels) || j < len(ch.levels) {
		switch {
		case j == len(ch.levels) || (i < len(a.levels) && better(bid, a.levels[i].Price, ch.levels[j].Price)):
			out.push(a.levels[i], a.inserted[i])
			i++
		case i == len(a.levels) || better(bid, ch.levels[j].Price, a.levels[i].Price):
			if l := ch.levels[j]; !sp.snapshot {
				out.push(l, ch.inserted[j])
			} else if l.Size > 0 {
				out.push(l, false)
			}
			j++
		default: // the same price: the latest size wins
			l, ins := ch.levels[j], a.inserted[i]
			switch {
			case sp.snapshot && l.Size == 0: // removed from the snapshot
			case sp.snapshot:
				out.push(l, false)
			case l.Size == 0 && ins: // added, then removed, within the span
			default:
				out.push(l, ins)
			}
			i++
			j++
		}
	}
	*a, sp.spare = sp.spare, *a
}

// better reports whether price x is better than y on a side: higher for
// bids, lower for asks.
func better(bid bool, x, y float64) bool {
	if bid {
		return x > y
	}
	return x < y
}

// appendJSON appends sp's client wire form (feed.Book.AppendJSON: "book"
// for a snapshot, else "book_update", with its checksum) for symbol sym,
// with the tier's mark (symbol.mark) before the closing brace. Its count
// n is not in the bytes: it rides as Message.N, spliced in by the writer.
func (sp *bookSpan) appendJSON(dst []byte, sym, mark string) []byte {
	b := sp.book(sym, "")
	dst = b.AppendJSON(dst, sp.checksum)
	return append(append(dst[:len(dst)-1], mark...), '}')
}

// maxBookJSON bounds the wire form of a book message of levels levels:
// what buf must keep room for.
func maxBookJSON(levels int) int { return 192 + 48*levels }

// startSpan makes the span of key, a book subscription's, the one its
// book is sending: the message just queued. The caller holds Client.mu
// and the book's shard.mu.
func (key *mergeKey) startSpan() {
	if key.span == nil {
		key.span = new(bookSpan)
	}
	key.span.copyFrom(key.sub.topic.sym.book.sending)
}

// mergeSpan folds what key's book is sending into the span of key's
// queued message, and bounds its size. The caller holds Client.mu and
// the book's shard.mu.
func (key *mergeKey) mergeSpan() {
	key.span.add(key.sub.topic.sym.book.sending)
	key.spanBytes = maxBookJSON(key.span.levels())
}

// appendSpan appends the wire form of key's span to dst. The caller
// holds Client.mu.
func (key *mergeKey) appendSpan(dst []byte) []byte {
	sym := key.sub.topic.sym
	return key.span.appendJSON(dst, sym.name, sym.mark)
}
