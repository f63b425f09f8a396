package fanout

import (
	"fmt"
	"slices"
	"time"
)

// DefaultRateClasses are the max rates (updates/s) a subscription can get
// when Config.RateClasses is nil.
var DefaultRateClasses = []float64{1, 2, 4, 5, 10, 20, 50}

// defaultRatePhases is Config.RatePhases when it is 0.
const defaultRatePhases = 8

// rateClass is one configured max rate in one phase. Every (topic, class)
// shares the class's slot grid, slot k being [k·period+offset,
// (k+1)·period+offset) of Unix time, and sends at most one message per
// slot: the first of a quiet slot at once (leading edge), the latest of
// the rest when the slot ends (trailing edge). So no tick or bar is held
// longer than one period, and a topic sends at most rate+1 times in any
// second. Subscribers of a class share its sends: one pending message per
// (topic, class), one timer per shard, no timer per client.
//
// Each configured rate comes in Config.RatePhases phases, their grids
// offset by period/RatePhases from one another, and each client is given
// one phase for all its subscriptions (Client.phase, round robin). A
// client's messages of one slot still go in one frame, but ten thousand
// dashboards at 4/s no longer all get theirs at the same instant: each
// slot end wakes a RatePhases-th of them, so the writes that one burst
// took are spread over the period.
type rateClass struct {
	rate   float64
	period int64 // ns
	offset int64 // ns, in [0, period): where this phase's slots start
}

// slot is the slot of the class's grid that now (Unix ns) falls in.
func (rc rateClass) slot(now int64) int64 { return (now - rc.offset) / rc.period }

// end is when slot ends.
func (rc rateClass) end(slot int64) int64 { return (slot+1)*rc.period + rc.offset }

// phased returns classes with each rate repeated in phases phases, rate by
// rate: the shard's classes, indexed by phasedClass.
func phased(classes []rateClass, phases int) []rateClass {
	out := make([]rateClass, 0, len(classes)*phases)
	for _, rc := range classes {
		for j := range phases {
			rc.offset = rc.period * int64(j) / int64(phases)
			out = append(out, rc)
		}
	}
	return out
}

// phasedClass maps classOf's class k (0 for every tick) and a client's
// phase to the index in topic.classes.
func phasedClass(k, phases, phase int) int {
	if k == 0 {
		return 0
	}
	return 1 + (k-1)*phases + phase
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

// classOf maps a requested max rate to a class of classes: 0 for every
// tick, else 1 + the index of the highest class not above rate (the lowest
// class for a rate below all of them). phasedClass turns it into an index
// for topic.classes.
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
	dirty      bool  // listed in the shard's rateSlots for this class
	// merge is, on a book topic, the merged update of the updates the
	// class holds (bookSpan), made at its first hold; encoded says
	// pending's bytes are its encoding already.
	merge   *bookSpan
	encoded bool
}

// rateSlots is the schedule of the shard's rate classes: per class, the
// topics holding a message back until the class's slot ends, and the
// earliest such end. shard.mu protects it.
type rateSlots struct {
	classes []rateClass // the configured rates, each in RatePhases phases (phased)
	held    [][]*topic  // per class, the topics holding a message back
	due     int64       // the earliest end of a slot a message is held for; 0 for none
}

func newRateSlots(classes []rateClass) rateSlots {
	return rateSlots{classes: classes, held: make([][]*topic, len(classes))}
}

// next is when the first slot holding a message ends.
func (rs *rateSlots) next() int64 { return rs.due }

// offer hands a topic's new message m (standing for m.N) to its class k at
// time now: sent at once if the class has sent nothing this slot, else held
// as pending (replacing an older pending message, which is then
// conflated) until the slot ends.
func (rs *rateSlots) offer(t *tally, tp *topic, k int, m Message, seq uint64, now int64) {
	cl := &tp.classes[k]
	if len(cl.subs) == 0 {
		return
	}
	rc := &rs.classes[k-1]
	slot := rc.slot(now)
	if cl.pending.Data == nil && cl.slot < slot {
		cl.slot = slot
		cl.send(t, m, seq, m.count())
		return
	}
	if cl.pending.Data != nil {
		t.rateConflated++
	}
	if tp.stream == Book {
		cl.holdBook(tp)
	}
	cl.pending, cl.pendingSeq = m, seq
	cl.count += m.count()
	if !cl.dirty {
		cl.dirty = true
		rs.held[k-1] = append(rs.held[k-1], tp)
		rs.dueBy(rc.end(slot))
	}
}

// dueBy makes the schedule due at at, if not earlier already.
func (rs *rateSlots) dueBy(at int64) {
	if rs.due == 0 || at < rs.due {
		rs.due = at
	}
}

// send queues m, which stands for count feed ticks up to seq, to every
// subscriber of the class.
func (cl *classState) send(t *tally, m Message, seq uint64, count int64) {
	for _, r := range cl.subs {
		cl.sendTo(t, r.key.sub, m, seq, count)
	}
}

// sendTo queues m to one subscriber. One that joined after some of the
// ticks m stands for (its snapshot or catch-up covered them) gets a
// smaller N, and one already at seq gets nothing, so no seq repeats. On a
// book, a merged update does not fit the snapshot of one that joined
// within its span (a level it drops as added then removed may be in that
// snapshot): that one gets the book's snapshot instead.
func (cl *classState) sendTo(t *tally, sub *subscription, m Message, seq uint64, count int64) {
	if sub.sent >= seq {
		return
	}
	if cl.merge != nil && cl.count > 0 && sub.sent != cl.merge.from && !cl.merge.snapshot {
		sub.topic.sendSnapshot(t, sub)
		sub.sent = seq
		return
	}
	m.N = min(count, int64(seq-sub.sent))
	sub.sent = seq
	t.send(sub, m)
}

// run sends, for each class whose slot has ended by now, the messages its
// topics held back, and works out when the next slot holding one ends.
func (rs *rateSlots) run(s *shard, now int64) {
	rs.due = 0
	for i, rc := range rs.classes {
		slot := rc.slot(now)
		keep := rs.held[i][:0]
		for _, tp := range rs.held[i] {
			cl := &tp.classes[i+1]
			if cl.slot >= slot { // sent this very slot: wait for its end
				keep = append(keep, tp)
				continue
			}
			if cl.pending.Data != nil { // nil if the topic was reset meanwhile
				cl.send(&s.t, cl.held(tp), cl.pendingSeq, cl.count)
			}
			cl.slot, cl.dirty = slot, false
			cl.clearHeld()
		}
		clear(rs.held[i][len(keep):])
		rs.held[i] = keep
		if len(keep) > 0 {
			rs.dueBy(rc.end(slot))
		}
	}
}

// holdBook folds the book update tp is sending into the class's merged
// update.
func (cl *classState) holdBook(tp *topic) {
	if cl.merge == nil {
		cl.merge = new(bookSpan)
	}
	if cl.count == 0 {
		cl.merge.copyFrom(tp.sym.book.sending)
	} else {
		cl.merge.add(tp.sym.book.sending)
	}
	cl.encoded = false
}

// held is the message the class sends for what it holds: its pending
// message, or on a book holding several updates their merged update,
// encoded once for every subscriber of the class. On a book it makes the
// held span the one the book is sending, for the queues that merge it.
func (cl *classState) held(tp *topic) Message {
	if cl.merge == nil {
		return cl.pending
	}
	tp.sym.book.sending = cl.merge
	if cl.count > 1 && !cl.encoded {
		cl.pending.Data, cl.encoded = tp.encodeSpan(cl.merge), true
	}
	return cl.pending
}

// clearHeld forgets what the class holds.
func (cl *classState) clearHeld() {
	cl.pending, cl.pendingSeq, cl.count, cl.encoded = Message{}, 0, 0, false
	if cl.merge != nil {
		cl.merge.reset()
	}
}
