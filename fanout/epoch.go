package fanout

import (
	"strconv"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// Epochs: whoever assigns a symbol's seqs names their run with an epoch
// (feed.Tick.Epoch), so a seq means something only beside its epoch. Each
// symbol (each tier) has a current epoch, none until its first tick. A
// tick of another epoch than the current one starts a new run: the
// symbol resets (reset), its old epoch is retired, and the new run's
// ticks flow at once from whatever seq they start at. A tick of a retired
// epoch means two publishers interleave on the symbol: it is dropped and
// counted as an epoch conflict (deliver), never taken for a reset, so the
// symbol does not flap between runs.
//
// Within an epoch a seq that skips ahead is a live gap: before the tick,
// the ticks topic's subscribers get a gap notice naming the missing seqs,
// and the history records the hole, so no recovery is answered across it.

// retiredEpochs is how many past epochs a symbol remembers for conflict
// detection: more than two publishers at once is not a case to serve.
const retiredEpochs = 4

// conflictLogEvery is how often a symbol's epoch conflicts are logged at
// most.
const conflictLogEvery = int64(time.Minute)

// epochs is a symbol's current epoch and the ones it retired. shard.mu
// protects it.
type epochs struct {
	current string // "" before the first tick
	// past is made when the symbol retires its first epoch: most symbols
	// run one epoch all their life and need none of it.
	past *pastEpochs
}

// pastEpochs is what a symbol remembers of its retired epochs.
type pastEpochs struct {
	retired [retiredEpochs]string
	next    int   // the retired slot the next retire overwrites
	logged  int64 // when a conflict was last logged (Unix ns); 0 never
}

// isRetired reports whether ep is one of the symbol's past epochs.
func (es *epochs) isRetired(ep string) bool {
	if es.past == nil {
		return false
	}
	for _, r := range es.past.retired {
		if r != "" && r == ep {
			return true
		}
	}
	return false
}

// start makes ep the current epoch, retiring the one before, if any.
func (es *epochs) start(ep string) {
	if es.current != "" {
		if es.past == nil {
			es.past = new(pastEpochs)
		}
		p := es.past
		p.retired[p.next] = es.current
		p.next = (p.next + 1) % retiredEpochs
	}
	es.current = ep
}

// epochOf is t's epoch: feed.DefaultEpoch for a tick that names none.
func epochOf(t *feed.Tick) string { return epochOrDefault(t.Epoch) }

// epochOrDefault is ep, or feed.DefaultEpoch for a message that names none.
func epochOrDefault(ep string) string {
	if ep == "" {
		return feed.DefaultEpoch
	}
	return ep
}

// conflict is one epoch conflict to log once the shard lock is released.
type conflict struct {
	sym, epoch, current string
}

// conflictLocked counts a tick of a retired epoch on sym, and lists it to
// be logged if sym has not been logged within conflictLogEvery. The
// caller holds shard.mu.
func (s *shard) conflictLocked(sym *symbol, ep string, now int64) {
	s.t.conflicts++
	s.logConflictLocked(sym, ep, now)
}

// logConflictLocked lists a message of a retired epoch on sym to be
// logged, if sym has not been logged within conflictLogEvery. The caller
// holds shard.mu.
func (s *shard) logConflictLocked(sym *symbol, ep string, now int64) {
	p := sym.epochs.past // there is one: ep is a retired epoch
	if p != nil && (p.logged == 0 || now-p.logged >= conflictLogEvery) {
		p.logged = now
		s.t.conflictLog = append(s.t.conflictLog, conflict{sym.name, ep, sym.epochs.current})
	}
}

// logConflicts logs the batch's listed epoch conflicts, outside the lock.
func (s *shard) logConflicts() {
	for _, c := range s.t.conflictLog {
		s.log.Warn("epoch conflict: messages of a retired epoch dropped; are two publishers running?",
			"sym", c.sym, "epoch", c.epoch, "current", c.current)
	}
}

// reset starts sym on epoch ep: its last tick, forming bars and every
// topic's history and last message start again, and each subscriber of
// each of its topics gets a reset notice before the new run's first
// message. On a symbol's first epoch there is nothing to reset, but
// whoever subscribed before its first tick got no epoch in its
// subscribed reply, and without one could only send a since that cannot
// tell a restart: those get an epoch notice naming it instead. The
// caller holds shard.mu.
func (s *shard) reset(sym *symbol, ep string) {
	code := "reset"
	if sym.epochs.current == "" {
		code = "epoch"
	}
	sym.epochs.start(ep)
	clear(sym.bars[:])
	if sym.book != nil {
		sym.book.reset()
	}
	sym.status.reset()
	for _, tp := range sym.topics {
		if tp == nil { // a lazy stream's, never made
			continue
		}
		tp.reset()
		if tp.hasSubscribers() {
			s.notify(tp, tp.encodeEpochNotice(code, ep))
		}
	}
}

// gap sends the gap notice for the seqs from..to, missing before sym's
// next tick, to every subscriber of its ticks topic. The caller holds
// shard.mu.
func (s *shard) gap(sym *symbol, from, to uint64) {
	if tp := sym.topics[Ticks]; tp.classes != nil {
		s.notify(tp, tp.encodeGap(from, to))
	}
}

// hasSubscribers reports whether tp has a subscriber in any rate class.
func (tp *topic) hasSubscribers() bool {
	for k := range tp.classes {
		if len(tp.classes[k].subs) > 0 {
			return true
		}
	}
	return false
}

// notify queues data, a notice about tp, to every subscriber of tp in
// every rate class, ahead of any message of tp that follows it: a
// conflating queue never merges a later tick into one queued before it.
func (s *shard) notify(tp *topic, data []byte) {
	for k := range tp.classes {
		for _, r := range tp.classes[k].subs {
			s.t.notice(r.c, data)
		}
	}
}

// encodeEpochNotice is tp's notice code ("reset" or "epoch") for epoch
// ep, cut from the shard's arena:
// {"type":"notice","code":"reset","sym":"AAPL","epoch":"<ep>"}, with
// "stream" on a topic other than ticks.
func (tp *topic) encodeEpochNotice(code, ep string) []byte {
	a := &tp.sym.shard.arena
	b := append(append(append(a.start(), `{"type":"notice","code":"`...), code...), '"')
	if tp.stream != Ticks {
		b = append(append(append(b, `,"stream":"`...), tp.stream.String()...), '"')
	}
	b = append(append(b, `,"sym":"`...), tp.sym.name...)
	b = append(append(b, `","epoch":"`...), ep...) // a valid epoch needs no escaping
	data, _ := a.cut(append(b, `"}`...))
	return data
}

// encodeGap is tp's gap notice for the missing seqs from..to, cut from the
// arena: {"type":"notice","code":"gap","sym":"AAPL","from":F,"to":T},
// with "stream" on a topic other than ticks.
func (tp *topic) encodeGap(from, to uint64) []byte {
	a := &tp.sym.shard.arena
	b := append(a.start(), `{"type":"notice","code":"gap"`...)
	if tp.stream != Ticks {
		b = append(append(append(b, `,"stream":"`...), tp.stream.String()...), '"')
	}
	b = append(b, `,"sym":"`...)
	b = append(append(b, tp.sym.name...), `","from":`...)
	b = strconv.AppendUint(b, from, 10)
	b = strconv.AppendUint(append(b, `,"to":`...), to, 10)
	data, _ := a.cut(append(b, '}'))
	return data
}
