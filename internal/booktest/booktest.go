package booktest

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/tickgate/tickgate/feed"
)

// Book is a receiver's copy of one symbol's book.
type Book struct {
	Seq        uint64
	Epoch      string
	bids, asks []feed.Level // best first; nil before the first snapshot
}

// Apply applies m to b and reports why it could not, if it could not: a
// seq that is not the next, an update before any snapshot, the removal of
// a level b lacks, a side left past depth (0: no limit), or a crossed
// book. A snapshot of another epoch starts b again.
func (b *Book) Apply(m feed.Book, depth int) error {
	switch {
	case m.Snapshot:
	case b.bids == nil:
		return fmt.Errorf("book %s seq %d: an update before any snapshot", m.Symbol, m.Seq)
	case m.Epoch != b.Epoch:
		return fmt.Errorf("book %s seq %d: an update of epoch %q in %q", m.Symbol, m.Seq, m.Epoch, b.Epoch)
	}
	if b.bids != nil && m.Epoch == b.Epoch && m.Seq != b.Seq+1 {
		return fmt.Errorf("book %s seq %d after %d", m.Symbol, m.Seq, b.Seq)
	}
	b.Seq, b.Epoch = m.Seq, m.Epoch
	if m.Snapshot {
		b.bids, b.asks = []feed.Level{}, []feed.Level{}
	}
	var err error
	if b.bids, err = ApplySide(b.bids, m.Bids, true); err == nil {
		b.asks, err = ApplySide(b.asks, m.Asks, false)
	}
	switch {
	case err != nil:
		return fmt.Errorf("book %s seq %d: %w", m.Symbol, m.Seq, err)
	case depth > 0 && (len(b.bids) > depth || len(b.asks) > depth):
		return fmt.Errorf("book %s seq %d: %d bids, %d asks, past depth %d", m.Symbol, m.Seq, len(b.bids), len(b.asks), depth)
	case len(b.bids) > 0 && len(b.asks) > 0 && b.bids[0].Price >= b.asks[0].Price:
		return fmt.Errorf("book %s seq %d: crossed, %v >= %v", m.Symbol, m.Seq, b.bids[0], b.asks[0])
	}
	return nil
}

// ApplySide applies levels to side, best first (descending prices for
// bids): size 0 removes a level, any other size sets or inserts it. A
// removal of a level side lacks is an error: neither a feed (a promise
// of the contract) nor the gateway (which sends the levels that changed)
// sends one.
func ApplySide(side, levels []feed.Level, bids bool) ([]feed.Level, error) {
	for _, l := range levels {
		i, found := slices.BinarySearchFunc(side, l.Price, func(x feed.Level, px float64) int {
			if bids {
				return cmp.Compare(px, x.Price)
			}
			return cmp.Compare(x.Price, px)
		})
		switch {
		case l.Size > 0 && found:
			side[i].Size = l.Size
		case l.Size > 0:
			side = slices.Insert(side, i, l)
		case found:
			side = slices.Delete(side, i, i+1)
		default:
			return side, fmt.Errorf("removes %v, which it does not have", l.Price)
		}
	}
	return side, nil
}

// Sides returns the book's bids and asks, best first. They are b's own:
// read them before the next Apply.
func (b *Book) Sides() (bids, asks []feed.Level) {
	return b.bids, b.asks
}

// Receiver is a feed.DepthSink that checks what it gets (see the package
// comment) and keeps the first broken promise in Err. OnBook, if set, is
// called after each book message is applied, for a test's own checks.
type Receiver struct {
	Depth  int // levels a side a book may have; 0: any
	OnBook func(m feed.Book, b *Book) error
	Err    error
	Books  map[string]*Book
	Status map[string]feed.Status
	Ticks  map[string]feed.Tick // the last of each symbol
	N      struct{ Ticks, Books, Snapshots, Status, Halts int }
}

// NewReceiver returns a Receiver of books of at most depth levels a side.
func NewReceiver(depth int) *Receiver {
	return &Receiver{Depth: depth, Books: map[string]*Book{}, Status: map[string]feed.Status{}, Ticks: map[string]feed.Tick{}}
}

func (r *Receiver) fail(err error) {
	if r.Err == nil {
		r.Err = err
	}
}

// Publish checks a tick: valid, its seq next after its symbol's last of
// the same epoch, its symbol open (if it has a status), and, once its
// symbol has a book, a trade at its touch: bid and ask the book's best,
// the price one of them, no more traded than rests there.
func (r *Receiver) Publish(t feed.Tick) {
	r.N.Ticks++
	if err := t.Validate(); err != nil {
		r.fail(fmt.Errorf("tick %+v: %w", t, err))
	}
	if last, ok := r.Ticks[t.Symbol]; ok && last.Epoch == t.Epoch && t.Seq != last.Seq+1 {
		r.fail(fmt.Errorf("tick %+v after seq %d", t, last.Seq))
	}
	r.Ticks[t.Symbol] = t
	if st, ok := r.Status[t.Symbol]; ok && st.Status != feed.StatusOpen {
		r.fail(fmt.Errorf("tick %+v while %s", t, st.Status))
	}
	b := r.Books[t.Symbol]
	if b == nil {
		return
	}
	bids, asks := b.Sides()
	switch {
	case len(bids) == 0 || len(asks) == 0:
		r.fail(fmt.Errorf("tick %+v with a one-sided book %v %v", t, bids, asks))
	case t.Bid != bids[0].Price || t.Ask != asks[0].Price:
		r.fail(fmt.Errorf("tick %+v: bid/ask not the book's best %v/%v", t, bids[0], asks[0]))
	case t.Price != t.Bid && t.Price != t.Ask:
		r.fail(fmt.Errorf("tick %+v: not at the touch", t))
	case t.Price == t.Bid && t.Size > bids[0].Size, t.Price == t.Ask && t.Size > asks[0].Size:
		r.fail(fmt.Errorf("tick %+v: trades more than rests at the touch %v/%v", t, bids[0], asks[0]))
	}
}

// PublishBook checks m (Validate) and applies it to its symbol's book.
func (r *Receiver) PublishBook(m feed.Book) {
	r.N.Books++
	if m.Snapshot {
		r.N.Snapshots++
	}
	if err := m.Validate(); err != nil {
		r.fail(fmt.Errorf("book %+v: %w", m, err))
		return
	}
	b := r.Books[m.Symbol]
	if b == nil {
		b = &Book{}
		r.Books[m.Symbol] = b
	}
	if err := b.Apply(m, r.Depth); err != nil {
		r.fail(err)
	}
	if r.OnBook != nil {
		if err := r.OnBook(m, b); err != nil {
			r.fail(err)
		}
	}
}

// next is the state a feed's status may change to from each.
var next = map[string]string{feed.StatusOpen: feed.StatusHalted, feed.StatusHalted: feed.StatusAuction, feed.StatusAuction: feed.StatusOpen}

// PublishStatus checks st: valid, open first, its seq the next of its
// epoch, each change open → halted (with a reason) → auction → open. The
// same state again (a replay's next play) is no change.
func (r *Receiver) PublishStatus(st feed.Status) {
	r.N.Status++
	if st.Status == feed.StatusHalted {
		r.N.Halts++
	}
	if err := st.Validate(); err != nil {
		r.fail(fmt.Errorf("status %+v: %w", st, err))
	}
	prev, ok := r.Status[st.Symbol]
	if ok && prev.Epoch != st.Epoch {
		ok = false // a new run starts again
	}
	switch {
	case !ok && st.Status != feed.StatusOpen:
		r.fail(fmt.Errorf("first status %+v, want open", st))
	case ok && st.Seq != prev.Seq+1:
		r.fail(fmt.Errorf("status %+v after seq %d", st, prev.Seq))
	case ok && st.Status != prev.Status && next[prev.Status] != st.Status:
		r.fail(fmt.Errorf("status %s %s after %s", st.Symbol, st.Status, prev.Status))
	case st.Status == feed.StatusHalted && st.Reason == "":
		r.fail(fmt.Errorf("halt %+v without a reason", st))
	}
	r.Status[st.Symbol] = st
}

var _ feed.DepthSink = (*Receiver)(nil)
