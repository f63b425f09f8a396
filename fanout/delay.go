package fanout

import (
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
// The line holds about Delay x feed rate ticks per gateway, bounded by
// Config.DelayMaxBytes. Past the bound the shard merges the two oldest
// held ticks of its busiest symbol into one (the later, standing for both:
// N), so nothing is dropped silently and the client still sees a
// contiguous stream; each merge is counted. Two ticks of different epochs
// are never merged: the older, the last of a run the twin is about to
// reset from, is dropped instead, so no tick of the new run stands for
// one of the old.

// heldTick is a tick waiting in the delay line, or a book or status in a
// tick's place (depth, delay_depth.go). n is how many feed messages it
// stands for (1 unless merged).
type heldTick struct {
	tick  feed.Tick
	n     int64
	depth *heldDepth // nil for a tick
}

// heldTickBytes is what one held tick costs the line, for DelayMaxBytes.
const heldTickBytes = 96

// releaseGrain coalesces releases: a tick leaves the line at most this
// long after its time, so the shard wakes at most 100 times a second for
// the line.
const releaseGrain = int64(10e6) // 10 ms

// delayLine is the shard's schedule of delayed-tier releases: the ticks
// each delayed twin waits for, their totals against the byte bound, and
// the next release. shard.mu protects it.
type delayLine struct {
	delay    int64 // Config.Delay in ns; 0 means no delayed tier
	maxBytes int   // Config.DelayMaxBytes
	// lanes holds, for each realtime symbol of the shard (by symbol.idx),
	// the ticks its delayed twin waits for; it is empty without a delayed
	// tier, when no symbol has a twin.
	lanes        []heldLane
	ticks, bytes int
	nextRelease  int64        // the earliest held tick's release time; 0 when empty
	spare        []*heldDepth // released book and status payloads, for reuse
}

// heldLane is one delayed twin's part of the line, oldest first from head.
type heldLane struct {
	twin *symbol
	held []heldTick
	head int
}

// add gives twin, the delayed twin of the shard's next realtime symbol, its
// lane.
func (dl *delayLine) add(twin *symbol) { dl.lanes = append(dl.lanes, heldLane{twin: twin}) }

// next is when the first held tick is due, rounded up to the grain.
func (dl *delayLine) next() int64 { return releaseAt(dl.nextRelease) }

// hold puts t, a realtime tick of the symbol whose idx is idx, in its
// twin's lane, and reports how many held ticks it merged to stay under
// the byte bound.
func (dl *delayLine) hold(idx int, t *feed.Tick) (merged int) {
	return dl.holdHeld(idx, heldTick{tick: *t, n: 1})
}

// holdHeld is hold for any held message.
func (dl *delayLine) holdHeld(idx int, h heldTick) (merged int) {
	l := &dl.lanes[idx]
	t := &h.tick
	l.held = append(l.held, h)
	dl.ticks++
	dl.bytes += h.heldBytes()
	for dl.bytes > dl.maxBytes && dl.mergeBusiest() {
		merged++
	}
	if at := t.TS + dl.delay; dl.nextRelease == 0 || at < dl.nextRelease {
		dl.nextRelease = at
	}
	return merged
}

// mergeBusiest merges the two oldest held messages of one kind in the
// lane holding the most (or drops the older, if they are of different
// epochs). It reports false if no lane holds two of a kind.
func (dl *delayLine) mergeBusiest() bool {
	var busiest *heldLane
	for i := range dl.lanes {
		l := &dl.lanes[i]
		if l.len() >= 2 && (busiest == nil || l.len() > busiest.len()) {
			busiest = l
		}
	}
	if busiest == nil {
		return false
	}
	i, j, ok := busiest.pair()
	if !ok {
		return false
	}
	a, b := &busiest.held[i], &busiest.held[j]
	dl.bytes -= a.heldBytes() + b.heldBytes()
	if epochOf(&b.tick) == epochOf(&a.tick) {
		mergeHeld(a, b)
	}
	dl.bytes += b.heldBytes()
	if a.depth != nil {
		dl.recycle(a.depth)
	}
	busiest.removeAt(i)
	dl.ticks--
	return true
}

func (l *heldLane) len() int { return len(l.held) - l.head }

// run publishes, on each delayed twin, the held ticks whose time has come
// by now, and works out when the next one is due.
func (dl *delayLine) run(s *shard, now int64) {
	if dl.nextRelease == 0 || now < dl.nextRelease {
		return
	}
	next := int64(0)
	for i := range dl.lanes {
		l := &dl.lanes[i]
		for l.len() > 0 {
			h := &l.held[l.head]
			if at := h.tick.TS + dl.delay; at > now {
				if next == 0 || at < next {
					next = at
				}
				break
			}
			dl.bytes -= h.heldBytes()
			if h.depth != nil {
				dl.releaseDepth(s, l.twin, h, now)
			} else {
				s.publish(l.twin, &h.tick, h.n, now)
			}
			*h = heldTick{}
			l.head++
			dl.ticks--
		}
		l.compact()
	}
	dl.nextRelease = next
}

// compact lets the released part of the lane's slice go.
func (l *heldLane) compact() {
	switch {
	case l.head == len(l.held):
		l.held, l.head = l.held[:0], 0
	case l.head > cap(l.held)/2:
		n := copy(l.held, l.held[l.head:])
		clear(l.held[n:])
		l.held, l.head = l.held[:n], 0
	}
}

// releaseAt rounds a release time up to the release grain.
func releaseAt(at int64) int64 {
	if at == 0 {
		return 0
	}
	return (at/releaseGrain + 1) * releaseGrain
}

// delayHeld reports the ticks and bytes the delay lines hold.
func (e *Engine) delayHeld() (ticks, bytes int) {
	for _, s := range e.shards {
		s.mu.Lock()
		ticks += s.delay.ticks
		bytes += s.delay.bytes
		s.mu.Unlock()
	}
	return ticks, bytes
}
