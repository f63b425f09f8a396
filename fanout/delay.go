package fanout

import (
	"unsafe"

	"github.com/tickgate/tickgate/feed"
)

// The delay line serves the delayed tier: every symbol has a delayed twin,
// a symbol of its own (its topics, with their subscriptions, rate classes,
// last messages and history, and its forming bars) fed not by the feed but
// by its shard's delayLine, which releases each tick Config.Delay after
// its feed timestamp. So delayed subscribers share one topic per stream
// and symbol: each delayed tick is encoded once, with "delayed":true, for
// all of them, and has its own snapshot (the latest tick at least Delay
// old), seq and recovery; the twin's bars are made of the released ticks
// and close on the feed clock less Delay.
//
// The line holds about Delay x feed rate ticks per gateway, in one ring
// per symbol (a lane), each grown by doubling as the symbol's traffic
// needs. A lane grows only while the line stays within
// Config.DelayMaxBytes and the shard's memory budget fits it (releasing
// history, budget.go, to make room). A lane that may not grow folds its
// own oldest held tick into the next (the later, standing for both: N),
// so nothing is dropped silently and the client still sees a contiguous
// stream; each fold is counted. The symbols whose traffic outgrows the
// room they have are the ones merged. Two ticks of different epochs are
// never merged: the older, the last of a run the twin is about to reset
// from, is dropped instead, so no tick of the new run stands for one of
// the old.

// heldTick is a tick waiting in the delay line, or a book or status in a
// tick's place (depth, delay_depth.go). n is how many feed messages it
// stands for (1 unless merged). Its strings are the engine's own (the
// twin's name, the symbol's epoch), so a held tick pins nothing of the
// feed's.
type heldTick struct {
	tick  feed.Tick
	n     int64
	depth *heldDepth // nil for a tick
}

// heldTickBytes is what one held tick's slot costs the line.
const heldTickBytes = int64(unsafe.Sizeof(heldTick{}))

// releaseGrain coalesces releases: a tick leaves the line at most this
// long after its time, so the shard wakes at most 100 times a second for
// the line.
const releaseGrain = int64(10e6) // 10 ms

// delayLine is the shard's schedule of delayed-tier releases: the ticks
// each delayed twin waits for, their count, and the next release. What
// the line costs, its lanes' slots, held or free, and its held books' and
// statuses' payloads, is the shard budget's used[keptDelay], held to
// maxBytes. shard.mu protects it.
type delayLine struct {
	delay    int64 // Config.Delay in ns; 0 means no delayed tier
	maxBytes int64 // Config.DelayMaxBytes
	// lanes holds, for each realtime symbol of the shard (by symbol.idx),
	// the ticks its delayed twin waits for; it is empty without a delayed
	// tier, when no symbol has a twin.
	lanes       []heldLane
	ticks       int          // ticks held (books and statuses among them)
	nextRelease int64        // the earliest held tick's release time; 0 when empty
	spare       []*heldDepth // released book and status payloads, for reuse
}

// heldLane is one delayed twin's part of the line.
type heldLane struct {
	twin *symbol
	held ring[heldTick]
}

// add gives twin, the delayed twin of the shard's next realtime symbol, its
// lane.
func (dl *delayLine) add(twin *symbol) { dl.lanes = append(dl.lanes, heldLane{twin: twin}) }

// next is when the first held tick is due, rounded up to the grain.
func (dl *delayLine) next() int64 { return releaseAt(dl.nextRelease) }

// hold puts t, a realtime tick of epoch epoch of the symbol whose idx is
// idx, in its twin's lane, and reports how many held ticks it merged to
// make room.
func (dl *delayLine) hold(b *budget, tl *tally, idx int, t *feed.Tick, epoch string) (merged int) {
	return dl.holdHeld(b, tl, idx, heldTick{tick: *t, n: 1}, epoch)
}

// holdHeld is hold for any held message: a tick, or a book or status in
// a tick's place.
func (dl *delayLine) holdHeld(b *budget, tl *tally, idx int, h heldTick, epoch string) (merged int) {
	l := &dl.lanes[idx]
	h.tick.Symbol = l.twin.name
	if h.tick.Epoch != "" {
		h.tick.Epoch = epoch
	}
	if l.held.full() && !dl.grow(b, tl, l) {
		dl.fold(b, tl, l, &h)
		merged++
	} else {
		dl.ticks++
	}
	l.held.put(h)
	if at := h.tick.TS + dl.delay; dl.nextRelease == 0 || at < dl.nextRelease {
		dl.nextRelease = at
	}
	return merged
}

// grow gives l, a full lane, more slots: twice as many, or as many as
// the line's bound leaves, if the memory budget fits them. A lane with
// none gets one regardless.
func (dl *delayLine) grow(b *budget, tl *tally, l *heldLane) bool {
	c := len(l.held.buf)
	nc := min(max(2*c, 4), c+int((dl.maxBytes-b.used[keptDelay])/heldTickBytes))
	if c == 0 {
		nc = 1
	}
	if nc <= c || !b.fits(tl, int64(nc-c)*heldTickBytes, always) && c > 0 {
		return false
	}
	dl.resize(b, l, nc)
	return true
}

// resize gives l capacity c and accounts for it.
func (dl *delayLine) resize(b *budget, l *heldLane, c int) {
	delta := int64(c-len(l.held.buf)) * heldTickBytes
	l.held.resize(c)
	b.add(keptDelay, delta)
}

// release drops the messages the lane of the symbol whose idx is idx
// holds and gives back their bytes, the slots' and the held books' and
// statuses' payloads: the one call that returns a lane's memory (a
// retired symbol's, retire.go). The caller holds shard.mu.
func (dl *delayLine) release(b *budget, idx int) {
	l := &dl.lanes[idx]
	for i := range l.held.n {
		if h := l.held.at(i); h.depth != nil {
			dl.recycle(b, h.depth)
			h.depth = nil
		}
	}
	dl.ticks -= l.held.n
	dl.resize(b, l, 0)
}

// fold makes room in l, a full lane, for h: its oldest held message
// folds into the next one of its kind (h itself, if none is held), which
// then stands for both; across epochs the oldest is dropped instead.
// Messages of other kinds between them keep their place (foldAt).
func (dl *delayLine) fold(b *budget, tl *tally, l *heldLane, h *heldTick) {
	for i := 0; i < l.held.n; i++ {
		if j := l.nextOfKind(i, h); j != nil {
			dl.foldAt(b, tl, l, i, j)
			return
		}
	}
	dl.foldAt(b, tl, l, 0, nil) // no two of a kind: the oldest goes
}

// run publishes, on each delayed twin, the held ticks whose time has come
// by now, works out when the next one is due, and halves a lane that is
// mostly empty again (or lets an empty one's slots go), so a burst's
// slots go back to the budget.
func (dl *delayLine) run(s *shard, now int64) {
	if dl.nextRelease == 0 || now < dl.nextRelease {
		return
	}
	next := int64(0)
	for i := range dl.lanes {
		l := &dl.lanes[i]
		for h := l.held.oldest(); h != nil; h = l.held.oldest() {
			if at := h.tick.TS + dl.delay; at > now {
				if next == 0 || at < next {
					next = at
				}
				break
			}
			if h.depth != nil {
				dl.releaseDepth(s, l.twin, h, now)
			} else {
				s.publish(l.twin, &h.tick, h.n, now)
			}
			l.held.pop()
			dl.ticks--
		}
		switch c := len(l.held.buf); {
		case l.held.n == 0 && c > 0:
			dl.resize(&s.budget, l, 0)
		case c > 4 && l.held.n < c/4:
			dl.resize(&s.budget, l, c/2)
		}
	}
	dl.nextRelease = next
}

// releaseAt rounds a release time up to the release grain.
func releaseAt(at int64) int64 {
	if at == 0 {
		return 0
	}
	return (at/releaseGrain + 1) * releaseGrain
}

// delayHeld reports the ticks the delay lines hold and the bytes they
// cost.
func (e *Engine) delayHeld() (ticks int, bytes int64) {
	for _, s := range e.shards {
		s.mu.Lock()
		ticks += s.delay.ticks
		bytes += s.budget.used[keptDelay]
		s.mu.Unlock()
	}
	return ticks, bytes
}
