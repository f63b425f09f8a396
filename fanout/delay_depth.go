package fanout

import (
	"unsafe"

	"github.com/tickgate/tickgate/feed"
)

// The delay line holds books and statuses beside ticks, in each delayed
// twin's one lane, so the twin gets them in feed order, each Config.Delay
// after its feed time. A held book is its structured span (bookSpan), so
// that a full lane folds two held books by the book's rules; a held
// status folds into the later, the state then. Their payloads are counted
// beside the slots (both in the budget's delay_line bytes) and kept
// on a free list for reuse.

// heldDepth is a book or status held in a heldTick's place; the tick's
// Seq, TS and Epoch are the message's, for the line's timing and folds.
type heldDepth struct {
	kind    depthKind
	book    bookSpan
	status  feed.Status
	counted int64 // the payload's bytes as the line counted them
}

// size is what d's arrays cost: its struct and its span's level arrays.
func (d *heldDepth) size() int64 {
	n := int64(unsafe.Sizeof(*d))
	for _, sd := range [...]*bookSide{&d.book.bids, &d.book.asks, &d.book.spare} {
		n += int64(cap(sd.levels))*int64(unsafe.Sizeof(feed.Level{})) + int64(cap(sd.inserted))
	}
	return n
}

// holdBook puts bk, a realtime book message the book took, of epoch epoch,
// in the lane of the twin of the symbol whose idx is idx, and reports how
// many held messages it folded to make room.
func (dl *delayLine) holdBook(b *budget, tl *tally, idx int, bk *feed.Book, epoch string) (merged int) {
	d := dl.spareDepth(depthBook)
	d.book.setBook(bk, 1)
	dl.count(b, tl, d)
	return dl.holdHeld(b, tl, idx, heldTick{tick: feed.Tick{Seq: bk.Seq, TS: bk.TS, Epoch: bk.Epoch}, n: 1, depth: d}, epoch)
}

// holdStatus is holdBook for a status from the feed.
func (dl *delayLine) holdStatus(b *budget, tl *tally, idx int, st *feed.Status, epoch string) (merged int) {
	d := dl.spareDepth(depthStatus)
	d.status = *st
	d.status.Epoch = ""
	dl.count(b, tl, d)
	return dl.holdHeld(b, tl, idx, heldTick{tick: feed.Tick{Seq: st.Seq, TS: st.TS, Epoch: st.Epoch}, n: 1, depth: d}, epoch)
}

// count counts d's payload into the line's bytes in the budget, making
// room by releasing history if it must (a held message goes in anyway).
func (dl *delayLine) count(b *budget, tl *tally, d *heldDepth) {
	n := d.size() - d.counted
	b.fits(tl, n, always)
	b.add(keptDelay, n)
	d.counted += n
}

// uncount gives d's payload's bytes back.
func (dl *delayLine) uncount(b *budget, d *heldDepth) {
	b.add(keptDelay, -d.counted)
	d.counted = 0
}

// spareDepth is a held payload of kind, from the free list if it has one.
func (dl *delayLine) spareDepth(kind depthKind) *heldDepth {
	var d *heldDepth
	if n := len(dl.spare); n > 0 {
		d, dl.spare = dl.spare[n-1], dl.spare[:n-1]
	} else {
		d = new(heldDepth)
	}
	d.kind = kind
	return d
}

// recycle gives d's bytes back and puts it on the free list.
func (dl *delayLine) recycle(b *budget, d *heldDepth) {
	dl.uncount(b, d)
	d.status = feed.Status{}
	dl.spare = append(dl.spare, d)
}

// releaseDepth publishes h, a held book or status, on twin, and recycles
// its payload.
func (dl *delayLine) releaseDepth(s *shard, twin *symbol, h *heldTick, now int64) {
	d := h.depth
	if d.kind == depthBook {
		b := d.book.book(twin.name, h.tick.Epoch)
		s.publishBook(twin, &b, d.book.n, now)
	} else {
		d.status.Symbol, d.status.Epoch = twin.name, h.tick.Epoch
		s.publishStatus(twin, &d.status, now)
	}
	dl.recycle(&s.budget, d)
	h.depth = nil
}

// kindOf is what h holds: a tick (numDepthKinds), a book or a status.
func (h *heldTick) kindOf() depthKind {
	if h.depth == nil {
		return numDepthKinds
	}
	return h.depth.kind
}

// nextOfKind is the held message after the i-th oldest of l that is of
// its kind, or h (about to be held) if it is the first such; nil if none.
func (l *heldLane) nextOfKind(i int, h *heldTick) *heldTick {
	kind := l.held.at(i).kindOf()
	for j := i + 1; j < l.held.n; j++ {
		if next := l.held.at(j); next.kindOf() == kind {
			return next
		}
	}
	if h.kindOf() == kind {
		return h
	}
	return nil
}

// foldAt folds the i-th oldest held message of l into next, the next of
// its kind (nil: none, it is dropped), and removes it, the older ones
// moving up a place. Across epochs it is dropped, not folded: the twin
// is about to reset from its run. A tick's count adds up; a book's span
// takes the later one in; a status is the later one's.
func (dl *delayLine) foldAt(b *budget, tl *tally, l *heldLane, i int, next *heldTick) {
	old := l.held.at(i)
	if next != nil && epochOf(&next.tick) == epochOf(&old.tick) {
		if d := next.depth; d != nil && d.kind == depthBook {
			old.depth.book.add(&d.book)
			old.depth.book, d.book = d.book, old.depth.book
			dl.count(b, tl, d)
		}
		next.n += old.n
	}
	if old.depth != nil {
		dl.recycle(b, old.depth)
	}
	for k := i; k > 0; k-- {
		*l.held.at(k) = *l.held.at(k - 1)
	}
	l.held.pop()
}
