package fanout

import "github.com/tickgate/tickgate/feed"

// The delay line holds books and statuses beside ticks, in one queue per
// delayed twin, so the twin gets them in feed order, each Config.Delay
// after its feed time. A held book is its structured span (bookSpan), so
// that past the byte bound two held books merge by the book's rules;
// held statuses merge into the later, the state then. The held
// payloads are kept on a free list and reused.

// heldDepth is a book or status held in a heldTick's place; the tick's
// Seq, TS and Epoch are the message's, for the line's timing and merges.
type heldDepth struct {
	kind   depthKind
	book   bookSpan
	status feed.Status
}

// heldLevelBytes is what a held book level costs the line beyond a
// heldTick's heldTickBytes.
const heldLevelBytes = 24

// heldBytes is what h costs the line, for DelayMaxBytes.
func (h *heldTick) heldBytes() int {
	if h.depth == nil || h.depth.kind != depthBook {
		return heldTickBytes
	}
	return heldTickBytes + heldLevelBytes*h.depth.book.levels()
}

// holdBook puts b, a realtime book message the book took, in the line of
// the twin of the symbol whose idx is idx, and reports how many held
// messages it merged to stay under the byte bound.
func (dl *delayLine) holdBook(idx int, b *feed.Book) (merged int) {
	d := dl.spareDepth(depthBook)
	d.book.setBook(b, 1)
	return dl.holdHeld(idx, heldTick{tick: feed.Tick{Seq: b.Seq, TS: b.TS, Epoch: b.Epoch}, n: 1, depth: d})
}

// holdStatus is holdBook for a status from the feed.
func (dl *delayLine) holdStatus(idx int, st *feed.Status) (merged int) {
	d := dl.spareDepth(depthStatus)
	d.status = *st
	return dl.holdHeld(idx, heldTick{tick: feed.Tick{Seq: st.Seq, TS: st.TS, Epoch: st.Epoch}, n: 1, depth: d})
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

// recycle puts d back on the free list.
func (dl *delayLine) recycle(d *heldDepth) {
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
		s.publishStatus(twin, &d.status, now)
	}
	dl.recycle(d)
}

// mergeHeld folds held message a into b, the next held message of its
// kind in the same epoch: a tick's count adds up, a book's span takes
// the later one in, a status is the later one's.
func mergeHeld(a, b *heldTick) {
	if b.depth != nil && b.depth.kind == depthBook {
		a.depth.book.add(&b.depth.book)
		a.depth.book, b.depth.book = b.depth.book, a.depth.book
	}
	b.n += a.n
}

// kindOf is what h holds: a tick (numDepthKinds), a book or a status.
func (h *heldTick) kindOf() depthKind {
	if h.depth == nil {
		return numDepthKinds
	}
	return h.depth.kind
}

// pair returns the oldest two held messages of one kind in l, i before
// j, or false if no kind has two.
func (l *heldLane) pair() (i, j int, ok bool) {
	var first [numDepthKinds + 1]int
	for k := l.head; k < len(l.held); k++ {
		kind := l.held[k].kindOf()
		if first[kind] > 0 {
			return first[kind] - 1, k, true
		}
		first[kind] = k + 1
	}
	return 0, 0, false
}

// removeAt removes the held message at i, moving the older ones up.
func (l *heldLane) removeAt(i int) {
	copy(l.held[l.head+1:i+1], l.held[l.head:i])
	l.held[l.head] = heldTick{}
	l.head++
}
