package fanout

import (
	"fmt"
	"slices"
	"time"
)

// DefaultRateClasses are the max rates (updates/s) a subscription can get
// when Config.RateClasses is nil.
var DefaultRateClasses = []float64{1, 2, 4, 5, 10, 20, 50}

// rateClass is one configured max rate. Every (topic, class) shares the
// class's slot grid, slot k being [k·period, (k+1)·period) of Unix time,
// and sends at most one message per slot: the first of a quiet slot at
// once (leading edge), the latest of the rest when the slot ends (trailing
// edge). So no tick or bar is held longer than one period, and a topic
// sends at most rate+1 times in any second. Subscribers of a class share
// its sends: one pending message per (topic, class), one timer per shard,
// no timer per client. The shard adds one class of its own, at 1/s, for
// partial bars (partialClass).
type rateClass struct {
	rate   float64
	period int64 // ns
}

func newRateClasses(rates []float64) ([]rateClass, error) {
	if rates == nil {
		rates = DefaultRateClasses
	}
	rates = slices.Clone(rates)
	slices.Sort(rates)
	out := make([]rateClass, 0, len(rates))
	for i, r := range rates {
		if r <= 0 || r > 1000 || (i > 0 && r == rates[i-1]) {
			return nil, fmt.Errorf("fanout: rate classes %v: each must be unique, above 0 and at most 1000", rates)
		}
		out = append(out, rateClass{rate: r, period: int64(float64(time.Second) / r)})
	}
	return out, nil
}

// classOf maps a requested max rate to a class index for topic.classes:
// 0 for every tick, else 1 + the index of the highest class not above
// rate (the lowest class for a rate below all of them).
func classOf(classes []rateClass, rate float64) int {
	if rate <= 0 {
		return 0
	}
	k := 1
	for i, c := range classes {
		if c.rate <= rate {
			k = i + 1
		}
	}
	return k
}

// classState is one (topic, class): its subscribers and the message it
// holds back until its slot ends. shard.mu protects it.
type classState struct {
	subs       subList
	pending    Message // latest tick not yet sent; Data is nil when none
	pendingSeq uint64
	count      int64 // feed ticks pending stands for
	slot       int64 // the slot of the last send
	dirty      bool  // listed in the shard's flush list for this class
}

// offer hands a topic's new message m (standing for m.N) to its class k at
// time now: sent at once if the class has sent nothing this slot, else held
// as pending (replacing an older pending message, which is then
// conflated).
func (s *shard) offer(tp *topic, k int, m Message, seq uint64, now int64) {
	cl := &tp.classes[k]
	if len(cl.subs) == 0 {
		return
	}
	slot := now / s.classes[k-1].period
	if cl.pending.Data == nil && cl.slot < slot {
		cl.slot = slot
		cl.send(&s.t, m, seq, m.count())
		return
	}
	if cl.pending.Data != nil {
		s.t.rateConflated++
	}
	cl.pending, cl.pendingSeq = m, seq
	cl.count += m.count()
	s.holdUntilSlotEnd(tp, k, slot)
}

// holdUntilSlotEnd lists tp in class k's flush list, once, and arms the
// timer for the end of slot, when flush sends what the class holds.
func (s *shard) holdUntilSlotEnd(tp *topic, k int, slot int64) {
	cl := &tp.classes[k]
	if cl.dirty {
		return
	}
	cl.dirty = true
	s.dirty[k-1] = append(s.dirty[k-1], tp)
	s.arm((slot + 1) * s.classes[k-1].period)
}

// send queues m, which stands for count feed ticks up to seq, to every
// subscriber of the class.
func (cl *classState) send(t *tally, m Message, seq uint64, count int64) {
	for _, r := range cl.subs {
		cl.sendTo(t, r.sub, m, seq, count)
	}
}

// sendTo queues m to one subscriber. One that joined after some of the
// ticks m stands for (its snapshot or catch-up covered them) gets a
// smaller N, and one already at seq gets nothing, so no seq repeats.
func (cl *classState) sendTo(t *tally, sub *subscription, m Message, seq uint64, count int64) {
	if sub.sent >= seq {
		return
	}
	m.N = min(count, int64(seq-sub.sent))
	sub.sent = seq
	t.send(sub, m)
}

// flush sends, for each class whose slot has ended, the messages its
// topics held back (for the progress class: the forming bar as it is now),
// and reports when the next slot with held messages ends (0 for none). The
// caller holds shard.mu.
func (s *shard) flush(now int64) (next int64) {
	for i, rc := range s.classes {
		slot := now / rc.period
		keep := s.dirty[i][:0]
		for _, tp := range s.dirty[i] {
			cl := &tp.classes[i+1]
			if cl.slot >= slot { // sent this very slot: wait for its end
				keep = append(keep, tp)
				continue
			}
			if i+1 == s.partialClass() {
				s.sendProgress(tp)
			} else {
				cl.send(&s.t, cl.pending, cl.pendingSeq, cl.count)
			}
			cl.slot = slot
			cl.pending, cl.pendingSeq, cl.count, cl.dirty = Message{}, 0, 0, false
		}
		clear(s.dirty[i][len(keep):])
		s.dirty[i] = keep
		if len(keep) > 0 {
			end := (slot + 1) * rc.period
			if next == 0 || end < next {
				next = end
			}
		}
	}
	return next
}
