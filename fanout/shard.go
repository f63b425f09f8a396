package fanout

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// maxBatch caps the ticks a shard takes per lock hold, so Subscribe waits
// at most one batch for the shard lock.
const maxBatch = 256

// inTick is one entry of a shard's inbox, in feed order: a tick of sym, a
// book or status of sym (depth.go) in the tick's place, reference data
// about sym (Engine.List), or, with sym nil, Engine.Sync's marker.
type inTick struct {
	sym   *symbol
	op    inOp
	tick  feed.Tick // for opTick
	depth *inDepth  // for opDepth
}

// inOp is what an inTick carries.
type inOp uint8

const (
	opTick   inOp = iota // a tick
	opDepth              // a book or status
	opList               // a listing: the symbol is listed (and not idle)
	opDelist             // a delisting: retire the symbol
)

// fed is the kind of the message in, as the universe counts refusals.
func (in *inTick) fed() feed.Kind {
	switch in.op {
	case opDepth:
		return in.depth.fed()
	case opList:
		return feed.KindListing
	}
	return feed.KindTick
}

// shard owns a subset of the symbols: their topics (subscriber sets, last
// messages, history, rate-class state), their forming bars, and the
// schedules of work due later. Its goroutine is the only one that encodes
// ticks and bars and runs the schedules; sessions take mu only to change
// subscriptions.
type shard struct {
	id      int
	e       *Engine // its universe, for listings and retirements
	in      chan inTick
	synced  chan struct{} // cap 1: a Sync marker was reached (Engine.syncMu keeps one in flight)
	metrics *metrics
	log     *slog.Logger
	// syms is the shard's realtime symbols; symbol.idx indexes it. The
	// shard goroutine adds (add) and removes (retire) them, under mu.
	syms  []*symbol
	depth int       // Config.BookDepth
	free  depthFree // the engine's, to give each inDepth back to

	// Owned by the shard goroutine.
	t     tally       // counts and writers to start for the current batch
	timer *time.Timer // fires when the first schedule is due
	due   int64       // when timer fires (Unix ns); 0 when stopped

	mu sync.Mutex // protects the schedules and the fields marked "shard.mu"
	// arena holds the live bytes of every message the shard encodes
	// (arena.go); budget is the shard's share of the memory budget and
	// what it keeps (budget.go). shard.mu protects both.
	arena  arena
	budget budget
	// The schedules the one timer serves. Each is a type of its own that
	// says when it is next due; schedules lists them in the order a wake
	// runs them.
	rates     rateSlots    // rate-class slot ends (rate.go)
	progress  progressList // progress updates of forming bars (progress.go)
	delay     delayLine    // delayed-tier releases (delay.go)
	clock     barClock     // bar closes on the feed clock (bars.go)
	stale     staleCheck   // stale statuses (stale.go)
	idle      idleSweep    // retirement of idle symbols (retire.go)
	schedules [6]schedule
}

// schedule is one kind of work the shard does at a time of its own
// choosing rather than when a tick comes. A new schedule is a type with
// these two methods, a field of shard, and an entry in shard.schedules.
type schedule interface {
	// next is the wall time (Unix ns) the schedule is next due; 0 for
	// never. The caller holds shard.mu.
	next() int64
	// run does what is due by now, if anything. The caller holds
	// shard.mu.
	run(s *shard, now int64)
}

func newShard(id int, e *Engine, cfg *Config, classes []rateClass) *shard {
	s := &shard{
		id:     id,
		e:      e,
		log:    cfg.Logger,
		in:     make(chan inTick, cfg.InboxTicks),
		synced: make(chan struct{}, 1),
		rates:  newRateSlots(classes),
		delay:  delayLine{delay: int64(cfg.Delay), maxBytes: int64(cfg.DelayMaxBytes)},
		budget: budget{share: cfg.MemoryBudget / int64(cfg.Shards)},
		clock:  barClock{grace: int64(cfg.BarGrace)},
		stale:  newStaleCheck(int64(cfg.StaleAfter)),
		idle:   idleSweep{after: int64(cfg.RetireAfter)},
		depth:  cfg.BookDepth,
		timer:  time.NewTimer(time.Hour),
	}
	s.schedules = [...]schedule{&s.rates, &s.progress, &s.delay, &s.clock, &s.stale, &s.idle}
	s.timer.Stop()
	return s
}

// add makes sym, a realtime symbol newly listed, one of the shard's at
// now, with a delay-line lane for its delayed twin, if any. The caller
// holds mu, or owns the shard before Run.
func (s *shard) add(sym *symbol, now int64) {
	sym.idx = len(s.syms)
	sym.seen = now
	s.syms = append(s.syms, sym)
	if sym.delayed != nil {
		s.delay.add(sym.delayed)
	}
	s.idle.added(now)
	s.budget.own(&s.t, symbolBytes(sym.name, sym.tiers()))
}

// take makes sym, the symbol in came for, one of the shard's, and
// returns the symbol in is for: sym itself, newly added; or, if sym was
// retired while in was on its way, the symbol listed under its name
// since, or listed now. It returns nil for a message to drop: a delisting
// of a symbol retired already, or one the universe no longer takes
// (counted; a book or status goes back to the free list). The caller
// holds mu.
func (s *shard) take(sym *symbol, in *inTick, now int64) *symbol {
	if sym.retired.Load() {
		if in.op == opDelist {
			return nil
		}
		var prevClose float64 // a listing's was set on sym: the new listing keeps it
		if in.op == opList {
			prevClose = math.Float64frombits(sym.prevClose.Load())
		}
		cur, why := s.e.listOne(sym.name, prevClose)
		if cur == nil {
			s.t.refused[in.fed()][why]++
			if in.depth != nil {
				s.free.put(in.depth)
			}
			return nil
		}
		if sym = cur; sym.idx >= 0 {
			return sym
		}
	}
	s.add(sym, now)
	return sym
}

// run takes one tick with a blocking receive, then whatever else is ready
// up to maxBatch, and delivers the batch under one lock hold. Between
// batches it runs the schedules that are due.
func (s *shard) run(ctx context.Context) {
	defer s.timer.Stop()
	s.mu.Lock()
	next := s.nextDueLocked() // what New scheduled: the first idle sweep
	s.mu.Unlock()
	s.arm(next)
	batch := make([]inTick, 0, maxBatch)
	for {
		select {
		case t := <-s.in:
			if t.sym == nil { // a Sync marker with nothing before it
				s.synced <- struct{}{}
				continue
			}
			batch = append(batch[:0], t)
		case <-s.timer.C:
			s.due = 0
			s.flushDue(time.Now().UnixNano())
			continue
		case <-ctx.Done():
			return
		}
		synced := false
	drain:
		for len(batch) < maxBatch {
			select {
			case t := <-s.in:
				if t.sym == nil { // a Sync marker: deliver what came before it, then say so
					synced = true
					break drain
				}
				batch = append(batch, t)
			default:
				break drain
			}
		}
		s.deliver(batch, time.Now().UnixNano())
		clear(batch) // drop the symbol pointers and strings until reuse
		if synced {
			s.synced <- struct{}{}
		}
	}
}

// deliver records each tick (encoded once), queues the same bytes for every
// subscriber that takes every tick, offers it to the symbol's rate
// classes, applies it to the symbol's bars and holds it in the delay
// line. Writers are started after the whole batch is queued, so a client
// that gets several ticks of the batch writes them in one frame. Counts
// are kept in the tally and published once per batch. now is the batch's
// time (Unix ns) on the schedules' grids.
func (s *shard) deliver(batch []inTick, now int64) {
	stale, invalid, skipped := 0, 0, 0 // skipped: not a tick, book or status delivered
	s.mu.Lock()
	for i := range batch {
		in := &batch[i]
		sym := in.sym
		if sym.idx < 0 { // its first message, or it was retired since it was sent
			if sym = s.take(sym, in, now); sym == nil {
				skipped++
				continue
			}
		}
		sym.seen = now
		switch in.op {
		case opDepth:
			s.deliverDepth(sym, in.depth, now)
			continue
		case opList, opDelist:
			skipped++
			s.reference(sym, in.op)
			continue
		}
		t := &in.tick
		switch ep := epochOf(t); {
		case ep == sym.epochs.current:
			if t.Seq <= sym.lastSeq() {
				stale++ // a replayed or reordered tick would repeat a seq
				continue
			}
		case sym.epochs.isRetired(ep):
			s.conflictLocked(sym, ep, now)
			continue
		case !feed.ValidEpoch(ep): // it goes into notices and replies unescaped
			invalid++
			continue
		}
		s.clock.observe(t.TS, now)
		s.publish(sym, t, 1, now)
		if sym.delayed != nil {
			s.t.delayConflated += s.delay.hold(&s.budget, &s.t, sym.idx, t, sym.epochs.current)
		}
	}
	next := s.nextDueLocked()
	s.budget.publish()
	s.mu.Unlock()
	s.arm(next)
	s.t.startWriters()
	s.logConflicts()
	s.logBadBooks()
	s.metrics.batch(len(batch)-skipped, stale, invalid, &s.t)
	s.t.reset()
}

// reference applies reference data to sym: a listing has marked it seen
// (deliver), a delisting retires it. The caller holds mu.
func (s *shard) reference(sym *symbol, op inOp) {
	if op == opDelist {
		s.retire(sym, retiredDelisted)
	}
}

// publish makes t, standing for n feed ticks, sym's newest tick: recorded
// (encoded once) on its ticks topic, sent there, and applied to its bars.
// A tick of another epoch resets sym first; one whose seqs do not follow
// sym's last is a gap, noticed before it. The caller holds shard.mu.
func (s *shard) publish(sym *symbol, t *feed.Tick, n int64, now int64) {
	prev := t.Seq - min(uint64(n), t.Seq) // the seq before the first t stands for
	tp := sym.topics[Ticks]
	switch ep := epochOf(t); {
	case ep != sym.epochs.current:
		s.reset(sym, ep)
	case tp.lastSeq > 0 && prev > tp.lastSeq:
		s.gap(sym, tp.lastSeq+1, prev)
	}
	whole := prev == tp.lastSeq // no tick of the run before t is missing here
	data, ref := tp.encodeTick(t)
	rec := tickRecord(t, prev, n)
	rec.live = ref
	m := tp.record(data, rec, liveTS(t, sym.lag))
	s.send(tp, m, t.Seq, now)
	s.aggregate(sym, t, n, whole, now)
	s.tickStatus(sym, t.TS, now)
}

// liveTS is the time t's delivery latency counts from: its TS, or for a
// delayed tick (lag > 0) its release; 0, not counted, for a synthetic tick,
// whose TS says when it would have happened.
func liveTS(t *feed.Tick, lag int64) int64 {
	if t.Synthetic {
		return 0
	}
	return t.TS + lag
}

// send queues m, tp's newest message, numbered seq, to every subscriber
// that takes every message, and offers it to each rate class.
func (s *shard) send(tp *topic, m Message, seq uint64, now int64) {
	if tp.classes == nil {
		return // never subscribed
	}
	for _, r := range tp.classes[0].subs {
		s.t.queue(r.c, r.key, m)
	}
	for k := 1; tp.rated > 0 && k < len(tp.classes); k++ {
		s.rates.offer(&s.t, tp, k, m, seq, now)
	}
}

// flushDue runs the schedules, in order, each doing what is due by now,
// and re-arms the timer for the first one due next.
func (s *shard) flushDue(now int64) {
	s.mu.Lock()
	for _, sc := range s.schedules {
		sc.run(s, now)
	}
	next := s.nextDueLocked()
	s.budget.publish()
	s.mu.Unlock()
	s.t.startWriters()
	s.metrics.batch(0, 0, 0, &s.t)
	s.t.reset()
	s.arm(next)
}

// nextDueLocked is when the first schedule is next due; 0 for never.
func (s *shard) nextDueLocked() (next int64) {
	for _, sc := range s.schedules {
		if at := sc.next(); at != 0 && (next == 0 || at < next) {
			next = at
		}
	}
	return next
}

// arm makes the timer fire at at (Unix ns) unless it fires earlier already.
func (s *shard) arm(at int64) {
	if at == 0 || (s.due != 0 && s.due <= at) {
		return
	}
	s.due = at
	s.timer.Reset(time.Until(time.Unix(0, at)))
}
