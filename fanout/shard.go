package fanout

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// maxBatch caps the ticks a shard takes per lock hold, so Subscribe waits
// at most one batch for the shard lock.
const maxBatch = 256

// inTick is one entry of a shard's inbox: a tick of sym, a book or status
// of sym (depth.go) in the tick's place, or, with sym nil, Engine.Sync's
// marker.
type inTick struct {
	sym   *symbol
	tick  feed.Tick
	depth *inDepth // nil for a tick
}

// shard owns a subset of the symbols: their topics (subscriber sets, last
// messages, history, rate-class state), their forming bars, and the
// schedules of work due later. Its goroutine is the only one that encodes
// ticks and bars and runs the schedules; sessions take mu only to change
// subscriptions.
type shard struct {
	id      int
	in      chan inTick
	synced  chan struct{} // cap 1: a Sync marker was reached (Engine.syncMu keeps one in flight)
	metrics *metrics
	log     *slog.Logger
	syms    []*symbol // the shard's realtime symbols, fixed at New; symbol.idx indexes it
	depth   int       // Config.BookDepth
	free    depthFree // the engine's, to give each inDepth back to

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
	schedules [5]schedule
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

func newShard(id int, cfg *Config, classes []rateClass) *shard {
	s := &shard{
		id:     id,
		log:    cfg.Logger,
		in:     make(chan inTick, cfg.InboxTicks),
		synced: make(chan struct{}, 1),
		rates:  newRateSlots(classes),
		delay:  delayLine{delay: int64(cfg.Delay), maxBytes: int64(cfg.DelayMaxBytes)},
		budget: budget{share: cfg.MemoryBudget / int64(cfg.Shards)},
		clock:  barClock{grace: int64(cfg.BarGrace)},
		stale:  newStaleCheck(int64(cfg.StaleAfter)),
		depth:  cfg.BookDepth,
		timer:  time.NewTimer(time.Hour),
	}
	s.schedules = [...]schedule{&s.rates, &s.progress, &s.delay, &s.clock, &s.stale}
	s.timer.Stop()
	return s
}

// add makes sym, a realtime symbol, one of the shard's, with a delay-line
// lane for its delayed twin, if any.
func (s *shard) add(sym *symbol) {
	sym.idx = len(s.syms)
	s.syms = append(s.syms, sym)
	if sym.delayed != nil {
		s.delay.add(sym.delayed)
	}
}

// run takes one tick with a blocking receive, then whatever else is ready
// up to maxBatch, and delivers the batch under one lock hold. Between
// batches it runs the schedules that are due.
func (s *shard) run(ctx context.Context) {
	defer s.timer.Stop()
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
	stale, invalid := 0, 0
	s.mu.Lock()
	for i := range batch {
		sym, t := batch[i].sym, &batch[i].tick
		if d := batch[i].depth; d != nil {
			s.deliverDepth(sym, d, now)
			continue
		}
		switch ep := epochOf(t); {
		case ep == sym.epochs.current:
			if t.Seq <= sym.last.Seq {
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
	s.metrics.batch(len(batch), stale, invalid, &s.t)
	s.t.reset()
}

// publish makes t, standing for n feed ticks, sym's newest tick: recorded
// (encoded once) on its ticks topic, sent there, and applied to its bars.
// A tick of another epoch resets sym first; one whose seqs do not follow
// sym's last is a gap, noticed before it. The caller holds shard.mu.
func (s *shard) publish(sym *symbol, t *feed.Tick, n int64, now int64) {
	prev := t.Seq - min(uint64(n), t.Seq) // the seq before the first t stands for
	switch ep := epochOf(t); {
	case ep != sym.epochs.current:
		s.reset(sym, ep)
	case sym.last.Seq > 0 && prev > sym.last.Seq:
		s.gap(sym, sym.last.Seq+1, prev)
	}
	whole := prev == sym.last.Seq // no tick of the run before t is missing here
	tp := sym.topics[Ticks]
	data, ref := tp.encodeTick(t)
	rec := tickRecord(t, prev, n)
	rec.live = ref
	m := tp.record(data, rec, liveTS(t, sym.lag))
	sym.last = *t
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
