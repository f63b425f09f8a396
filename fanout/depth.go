package fanout

import "github.com/tickgate/tickgate/feed"

// Books and trading status come from the feed beside its ticks
// (feed.DepthSink), through the same shard inbox, so a symbol's ticks,
// books and status keep the feed's order, which its epochs rely on: the
// first message of a new run, whatever its kind, resets the symbol on
// every stream.

// depthKind tells a book from a status where both travel as one.
type depthKind uint8

const (
	depthBook depthKind = iota
	depthStatus
	numDepthKinds
)

// depthMetricNames are the names of each kind's counters, taken and
// dropped, spelt out so that a search for a metric finds them.
var depthMetricNames = [numDepthKinds][2]string{
	{"tickgate_feed_books_total", "tickgate_feed_dropped_books_total"},
	{"tickgate_feed_statuses_total", "tickgate_feed_dropped_statuses_total"},
}

// depthDrop is why the engine dropped a book or status from the feed: the
// reason label of tickgate_feed_dropped_books_total and
// tickgate_feed_dropped_statuses_total.
type depthDrop uint8

const (
	dropStaleSeq      depthDrop = iota // its seq is not above the last of its kind in the epoch
	dropEpochConflict                  // of an epoch the symbol left: two publishers
	dropInvalidEpoch                   // an epoch that is not feed.ValidEpoch
	dropNoSnapshot                     // a book update with no book to apply to: none yet this epoch, or none since a gap
	dropCrossed                        // a book message that would leave the best bid at or above the best ask
	dropBeyondDepth                    // a book message that would leave a side deeper than Config.BookDepth
	numDepthDrops
	dropNone depthDrop = numDepthDrops // not dropped
)

var depthDropNames = [numDepthDrops]string{"stale_seq", "epoch_conflict", "invalid_epoch", "no_snapshot", "crossed", "beyond_depth"}

// String returns the drop's metric label.
func (d depthDrop) String() string {
	if d < numDepthDrops {
		return depthDropNames[d]
	}
	return "none"
}

// inDepth is a book or status on its way to its shard. PublishBook copies
// the book's levels into it, as the sink may not keep the source's; the
// shard gives it back (depthFree) once published.
type inDepth struct {
	kind       depthKind
	book       feed.Book // Bids and Asks are bids and asks
	status     feed.Status
	bids, asks []feed.Level
}

// depthFree is the engine's free list of inDepth: the feed takes from it,
// the shards give back, so a warm engine allocates none. It is a bounded
// channel rather than a sync.Pool, which may drop what it is given.
type depthFree chan *inDepth

// depthFreeCap bounds the free list: past it a given-back inDepth is
// left to the garbage collector.
const depthFreeCap = 1024

func (f depthFree) get() *inDepth {
	select {
	case d := <-f:
		return d
	default:
		return new(inDepth)
	}
}

func (f depthFree) put(d *inDepth) {
	d.book, d.status = feed.Book{}, feed.Status{} // drop the strings until reuse
	select {
	case f <- d:
	default:
	}
}

// PublishBook hands b to its symbol's shard, behind the symbol's ticks
// before it. It implements feed.DepthSink: call it from the goroutine
// that calls Publish. It keeps nothing of b's level slices. A book of a
// symbol not listed lists it, as a tick does, or is dropped and counted
// if the universe refuses it.
func (e *Engine) PublishBook(b feed.Book) {
	sym := e.listFor(b.Symbol, feed.KindBook, 0)
	if sym == nil {
		return
	}
	d := e.free.get()
	d.bids, d.asks = append(d.bids[:0], b.Bids...), append(d.asks[:0], b.Asks...)
	d.kind, d.book = depthBook, b
	d.book.Bids, d.book.Asks = d.bids, d.asks
	e.sendDepth(sym, d)
}

// PublishStatus hands st to its symbol's shard, behind the symbol's ticks
// before it. It implements feed.DepthSink, as PublishBook.
func (e *Engine) PublishStatus(st feed.Status) {
	sym := e.listFor(st.Symbol, feed.KindStatus, 0)
	if sym == nil {
		return
	}
	d := e.free.get()
	d.kind, d.status = depthStatus, st
	e.sendDepth(sym, d)
}

var _ feed.DepthSink = (*Engine)(nil)

// sendDepth hands d to sym's shard, or back to the free list if the engine
// stopped.
func (e *Engine) sendDepth(sym *symbol, d *inDepth) {
	if !e.send(inTick{sym: sym, op: opDepth, depth: d}) {
		e.free.put(d)
	}
}

// fed is the kind of a message from the feed, as the universe counts the
// ones it refuses: each kind has its dropped counter.
func (d *inDepth) fed() feed.Kind {
	if d.kind == depthBook {
		return feed.KindBook
	}
	return feed.KindStatus
}

// deliverDepth publishes d, a book or status from the feed, on sym, unless
// its epoch or seq says it must be dropped as a tick would be, and holds
// it in the delay line for the delayed twin. The caller holds shard.mu.
func (s *shard) deliverDepth(sym *symbol, d *inDepth, now int64) {
	s.t.depth[d.kind]++
	seq, ep := d.book.Seq, d.book.Epoch
	var last uint64 // the book's: 0 before its first message
	if sym.book != nil {
		last = sym.book.seen
	}
	if d.kind == depthStatus {
		seq, ep, last = d.status.Seq, d.status.Epoch, sym.status.seen
	}
	why := dropNone
	switch ep = epochOrDefault(ep); {
	case ep == sym.epochs.current:
		if seq <= last {
			why = dropStaleSeq // replayed or reordered
		}
	case sym.epochs.isRetired(ep):
		s.logConflictLocked(sym, ep, now)
		why = dropEpochConflict
	case !feed.ValidEpoch(ep):
		why = dropInvalidEpoch
	}
	switch {
	case why != dropNone:
		s.t.depthDrops[d.kind][why]++
	case d.kind == depthBook:
		if s.publishBook(sym, &d.book, 1, now) && sym.delayed != nil {
			s.t.delayConflated += s.delay.holdBook(&s.budget, &s.t, sym.idx, &d.book, sym.epochs.current)
		}
	default:
		s.publishStatus(sym, &d.status, now)
		if sym.delayed != nil {
			s.t.delayConflated += s.delay.holdStatus(&s.budget, &s.t, sym.idx, &d.status, sym.epochs.current)
		}
	}
	s.free.put(d)
}

// badBook is one bad book to log once the shard lock is released.
type badBook struct {
	sym string
	why depthDrop
	seq uint64
}

// logBadBooks logs the batch's listed bad books, outside the lock.
func (s *shard) logBadBooks() {
	for _, b := range s.t.badLog {
		s.log.Warn("book from the feed dropped: the book cannot take it; more of this kind for the symbol are counted, not logged",
			"sym", b.sym, "reason", b.why.String(), "seq", b.seq)
	}
}
