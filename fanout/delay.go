package fanout

import (
	"github.com/tickgate/tickgate/feed"
)

// The delay line serves the delayed tier: every symbol has a delayed twin,
// a symbol of its own (its topics, with their subscriptions, rate classes,
// last messages and history, and its forming bars) fed not by the feed but
// by its shard's delay line, which releases each tick Config.Delay after
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
// contiguous stream; each merge is counted.

// heldTick is a tick waiting in the delay line. n is how many feed ticks
// it stands for (1 unless merged).
type heldTick struct {
	tick feed.Tick
	n    int64
}

// heldTickBytes is what one held tick costs the line, for DelayMaxBytes.
const heldTickBytes = 96

// releaseGrain coalesces releases: a tick leaves the line at most this
// long after its time, so the shard wakes at most 100 times a second for
// the line.
const releaseGrain = int64(10e6) // 10 ms

// hold puts t, a realtime tick of d's symbol, in the delay line of d,
// the delayed twin. The caller holds shard.mu.
func (s *shard) hold(d *symbol, t *feed.Tick) {
	d.held = append(d.held, heldTick{tick: *t, n: 1})
	s.delayTicks++
	s.delayBytes += heldTickBytes
	for s.delayBytes > s.delayMax && s.mergeBusiest() {
	}
	at := t.TS + s.delay
	if s.nextRelease == 0 || at < s.nextRelease {
		s.nextRelease = at
	}
}

// mergeBusiest merges the two oldest held ticks of the symbol holding the
// most. It reports false if no symbol holds two.
func (s *shard) mergeBusiest() bool {
	var busiest *symbol
	for _, sym := range s.syms {
		d := sym.delayed
		if d.heldLen() >= 2 && (busiest == nil || d.heldLen() > busiest.heldLen()) {
			busiest = d
		}
	}
	if busiest == nil {
		return false
	}
	h := busiest.heldHead
	busiest.held[h+1].n += busiest.held[h].n
	busiest.held[h] = heldTick{}
	busiest.heldHead++
	s.delayTicks--
	s.delayBytes -= heldTickBytes
	s.t.delayConflated++
	return true
}

func (d *symbol) heldLen() int { return len(d.held) - d.heldHead }

// release delivers, on every delayed twin of the shard, the held ticks
// whose time has come by now, and reports when the next one is due (0 for
// none). The caller holds shard.mu.
func (s *shard) release(now int64) (next int64) {
	if s.nextRelease == 0 || now < s.nextRelease {
		return s.nextRelease
	}
	next = 0
	for _, sym := range s.syms {
		d := sym.delayed
		for d.heldLen() > 0 {
			h := &d.held[d.heldHead]
			if at := h.tick.TS + s.delay; at > now {
				if next == 0 || at < next {
					next = at
				}
				break
			}
			s.publish(d, &h.tick, h.n, now)
			*h = heldTick{}
			d.heldHead++
			s.delayTicks--
			s.delayBytes -= heldTickBytes
		}
		d.compactHeld()
	}
	s.nextRelease = next
	return next
}

// compactHeld lets the released part of the held slice go.
func (d *symbol) compactHeld() {
	switch {
	case d.heldHead == len(d.held):
		d.held, d.heldHead = d.held[:0], 0
	case d.heldHead > cap(d.held)/2:
		n := copy(d.held, d.held[d.heldHead:])
		clear(d.held[n:])
		d.held, d.heldHead = d.held[:n], 0
	}
}

// releaseAt rounds a release time up to the release grain.
func releaseAt(at int64) int64 {
	if at == 0 {
		return 0
	}
	return (at/releaseGrain + 1) * releaseGrain
}

// delayLine reports the ticks and bytes the delay line holds.
func (e *Engine) delayLine() (ticks, bytes int) {
	for _, s := range e.shards {
		s.mu.Lock()
		ticks += s.delayTicks
		bytes += s.delayBytes
		s.mu.Unlock()
	}
	return ticks, bytes
}
