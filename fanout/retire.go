package fanout

import (
	"time"
)

// Retirement: a symbol leaves the engine when the feed delists it
// (Engine.List, in feed order with its ticks) or when it had neither tick
// nor listing for Config.RetireAfter (idleSweep). Either way its shard
// does it, in retire, the one place a symbol's state is let go: every
// subscriber of each of its topics (ticks, bars, book and status), in
// both tiers, gets one retired notice and loses the subscription; what
// each topic keeps goes back to the memory budget (budget.release), as
// do the symbol's own bytes (symbolBytes, bookStateBytes); its
// rate-class and progress state is dropped, and so are the forming bars,
// the book and the trading status; the twin's lane of the delay line
// gives its held messages back too (delayLine.release: they are never
// released to the twin, a delisted symbol is gone for the delayed tier
// too). The symbol stays in
// the table, marked, until the next rebuild (universe.go), and lookups
// pass over it.
//
// A later tick or listing of the same name lists a new symbol, which
// starts with no epoch, no history and no subscribers: it takes the epoch
// of its first tick, so a since from the old listing is recovered only if
// the feed carries the old run on (a symbol retired for idleness that
// ticks again) and a new run is a snapshot, as after any restart.

// retireReason is why a symbol was retired: the notice's reason and the
// metric's label.
type retireReason uint8

const (
	retiredDelisted retireReason = iota // the feed delisted it
	retiredIdle                         // no tick or listing for Config.RetireAfter

	numRetireReasons = iota
)

var retireReasonNames = [numRetireReasons]string{"delisted", "idle"}

func (r retireReason) String() string { return retireReasonNames[r] }

// retire takes sym, one of the shard's realtime symbols, out of the
// engine with its delayed twin. The caller holds shard.mu.
func (s *shard) retire(sym *symbol, why retireReason) {
	removed := 0
	for _, tier := range [2]*symbol{sym, sym.delayed} {
		if tier == nil {
			continue
		}
		tier.retired.Store(true) // before the subscribers' clients are told to prune
		for st, tp := range tier.topics {
			if tp == nil { // a lazy stream's, never made
				continue
			}
			if Stream(st).lazy() {
				s.budget.own(&s.t, -topicBytes)
			}
			removed += s.dropSubscribers(tp, why)
			s.budget.release(tp)
			tp.forget()
		}
		clear(tier.bars[:])
		if tier.book != nil {
			s.budget.own(&s.t, -bookStateBytes(s.depth))
		}
		tier.book, tier.status = nil, statusState{}
	}
	s.budget.own(&s.t, -symbolBytes(sym.name, sym.tiers()))
	if sym.delayed != nil {
		s.delay.release(&s.budget, sym.idx)
	}
	s.unlist(sym)
	s.e.subscriptions.Add(-int64(removed))
	s.t.retired[why]++
	s.e.retired()
}

// dropSubscribers sends every subscriber of tp the retired notice and
// tells each client to prune the subscription (Engine.prune). It returns
// how many there were. The caller holds shard.mu.
func (s *shard) dropSubscribers(tp *topic, why retireReason) (n int) {
	if !tp.hasSubscribers() {
		return 0
	}
	data := tp.encodeRetired(why)
	for k := range tp.classes {
		for _, r := range tp.classes[k].subs {
			s.t.notice(r.c, data)
			r.c.stale.Add(1)
			n++
		}
	}
	return n
}

// forget drops tp's subscriber lists, the messages its rate classes hold
// and its progress list; budget.release has let go of what it keeps. A
// rate slot or progress list of the shard still naming tp finds nothing
// to send. The caller holds shard.mu.
func (tp *topic) forget() {
	tp.reset()
	for k := range tp.classes {
		tp.classes[k] = classState{}
	}
	tp.rated = 0
	tp.progress = nil
}

// unlist takes sym, its twin's lane emptied (delayLine.release), off the
// shard's list and the lane off the delay line, moving the last of each
// into its place: lanes are indexed as the list is. The caller holds
// shard.mu.
func (s *shard) unlist(sym *symbol) {
	i, last := sym.idx, len(s.syms)-1
	if i != last {
		moved := s.syms[last]
		s.syms[i], moved.idx = moved, i
	}
	s.syms[last] = nil
	s.syms = s.syms[:last]
	if sym.delayed != nil {
		lanes := s.delay.lanes
		lanes[i], lanes[last] = lanes[last], heldLane{}
		s.delay.lanes = lanes[:last]
	}
	sym.idx = -1
}

// encodeRetired is tp's retired notice, cut from the shard's arena:
// {"type":"notice","code":"retired","sym":"AAPL","reason":"delisted"},
// with "stream" on a topic other than ticks.
func (tp *topic) encodeRetired(why retireReason) []byte {
	a := &tp.sym.shard.arena
	b := append(a.start(), `{"type":"notice","code":"retired"`...)
	if tp.stream != Ticks {
		b = append(append(append(b, `,"stream":"`...), tp.stream.String()...), '"')
	}
	b = append(append(b, `,"sym":"`...), tp.sym.name...)
	b = append(append(b, `","reason":"`...), why.String()...)
	data, _ := a.cut(append(b, `"}`...))
	return data
}

// idleSweep is the shard's schedule of retirements for idleness: every
// quarter of Config.RetireAfter it retires the symbols that had neither
// tick nor listing for RetireAfter, so one is retired between RetireAfter
// and 1.25 RetireAfter after its last. shard.mu protects it.
type idleSweep struct {
	after int64 // Config.RetireAfter in ns; 0: never
	due   int64 // the next sweep; 0 while the shard has no symbols
}

// minSweepEvery bounds how often a shard sweeps for idle symbols.
const minSweepEvery = int64(10 * time.Millisecond)

func (is *idleSweep) every() int64 { return max(is.after/4, minSweepEvery) }

func (is *idleSweep) next() int64 { return is.due }

// added arms the sweep once the shard has a symbol.
func (is *idleSweep) added(now int64) {
	if is.after > 0 && is.due == 0 {
		is.due = now + is.every()
	}
}

// run retires every idle symbol of s once a sweep is due.
func (is *idleSweep) run(s *shard, now int64) {
	if is.due == 0 || now < is.due {
		return
	}
	for i := len(s.syms) - 1; i >= 0; i-- { // retire moves the last symbol into i
		if sym := s.syms[i]; now-sym.seen >= is.after {
			s.retire(sym, retiredIdle)
		}
	}
	is.due = 0
	if len(s.syms) > 0 {
		is.due = now + is.every()
	}
}

// prune forgets c's subscriptions of retired symbols, once a shard has
// said there are some. The caller is c's Subscribe goroutine.
func (e *Engine) prune(c *Client) {
	if c.stale.Swap(0) == 0 {
		return
	}
	for tp := range c.subs {
		if tp.sym.retired.Load() {
			delete(c.subs, tp)
		}
	}
}
