package fanout

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// maxBatch caps the ticks a shard takes per lock hold, so Subscribe waits
// at most one batch for the shard lock.
const maxBatch = 256

type inTick struct {
	sym  *symbol
	tick feed.Tick
}

// shard owns a subset of the symbols: their topics (subscriber sets, last
// messages, history, rate-class state) and forming bars. Its goroutine is
// the only one that encodes ticks and bars and flushes rate classes;
// sessions take mu only to change subscriptions.
type shard struct {
	id      int
	in      chan inTick
	metrics *metrics
	// classes are the configured rate classes, then the progress class of
	// partial bars (partialClass).
	classes []rateClass

	syms     []*symbol // the shard's realtime symbols, fixed at New
	delay    int64     // Config.Delay in ns; 0 means no delayed tier
	delayMax int       // Config.DelayMaxBytes
	barGrace int64     // Config.BarGrace in ns

	// Owned by the shard goroutine.
	t     tally       // counts and writers to start for the current batch
	timer *time.Timer // fires at the earliest rate-slot end, release or bar close due
	due   int64       // when timer fires (Unix ns); 0 when stopped

	mu sync.Mutex // protects the fields below and those marked "shard.mu"
	// dirty lists, per rate class, the topics holding a message back.
	dirty [][]*topic
	// The delay line's totals and its next release time (0: empty).
	delayTicks, delayBytes int
	nextRelease            int64
	// The feed clock (bars.go): the newest tick timestamp seen and the
	// wall time it came; and the feed-clock time the next bar closes.
	feedTS, feedAt int64
	closeDue       int64
}

func newShard(id int, cfg *Config, classes []rateClass) *shard {
	classes = append(slices.Clip(classes), rateClass{rate: 1, period: progressPeriod})
	s := &shard{
		id:       id,
		in:       make(chan inTick, cfg.InboxTicks),
		classes:  classes,
		delay:    int64(cfg.Delay),
		delayMax: cfg.DelayMaxBytes,
		barGrace: int64(cfg.BarGrace),
		dirty:    make([][]*topic, len(classes)),
		timer:    time.NewTimer(time.Hour),
	}
	s.timer.Stop()
	return s
}

// run takes one tick with a blocking receive, then whatever else is ready
// up to maxBatch, and delivers the batch under one lock hold. Between
// batches it flushes the rate classes whose slot has ended.
func (s *shard) run(ctx context.Context) {
	defer s.timer.Stop()
	batch := make([]inTick, 0, maxBatch)
	for {
		select {
		case t := <-s.in:
			batch = append(batch[:0], t)
		case <-s.timer.C:
			s.due = 0
			s.flushDue(time.Now().UnixNano())
			continue
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case t := <-s.in:
				batch = append(batch, t)
			default:
				break drain
			}
		}
		s.deliver(batch, time.Now().UnixNano())
		clear(batch) // drop the symbol pointers and strings until reuse
	}
}

// deliver records each tick (encoded once), queues the same bytes for every
// subscriber that takes every tick, offers it to the symbol's rate
// classes, and applies it to the symbol's bars. Writers are started after
// the whole batch is queued, so a client that gets several ticks of the
// batch writes them in one frame. Counts are kept in the tally and
// published once per batch. now is the batch's time (Unix ns) on the rate
// classes' slot grid.
func (s *shard) deliver(batch []inTick, now int64) {
	stale := 0
	s.mu.Lock()
	for i := range batch {
		sym, t := batch[i].sym, &batch[i].tick
		if t.Seq <= sym.last.Seq {
			stale++ // a replayed or reordered tick would repeat a seq
			continue
		}
		if s.feedAt == 0 || t.TS > s.feedClock(now) {
			s.feedTS, s.feedAt = t.TS, now // the feed clock never runs back
		}
		s.publish(sym, t, 1, now)
		if sym.delayed != nil {
			s.hold(sym.delayed, t)
		}
	}
	release, closeAt := s.nextRelease, s.wallOf(s.closeDue)
	s.mu.Unlock()
	s.arm(releaseAt(release))
	s.arm(closeAt)
	s.t.startWriters()
	s.metrics.batch(len(batch), stale, &s.t)
	s.t.reset()
}

// publish makes t, standing for n feed ticks, sym's newest tick: recorded
// (encoded once) on its ticks topic, sent there, and applied to its bars.
// The caller holds shard.mu.
func (s *shard) publish(sym *symbol, t *feed.Tick, n int64, now int64) {
	tp := sym.topics[Ticks]
	m := tp.record(tp.encodeTick(t), t.Seq, n, t.TS)
	if sym.isDelayed {
		m.TS += s.delay // delivery latency counts from the release
	}
	sym.last = *t
	s.send(tp, m, t.Seq, now)
	s.aggregate(sym, t, n, now)
}

// send queues m, tp's newest message, numbered seq, to every subscriber
// that takes every message, and offers it to each rate class.
func (s *shard) send(tp *topic, m Message, seq uint64, now int64) {
	if tp.classes == nil {
		return // never subscribed
	}
	for _, r := range tp.classes[0].subs {
		s.t.queue(r.c, r.sub, m)
	}
	for k := 1; tp.rated > 0 && k < s.partialClass(); k++ {
		s.offer(tp, k, m, seq, now)
	}
}

// partialClass is the index, in a topic's classes, of the subscriptions
// that take a bar stream's progress updates.
func (s *shard) partialClass() int { return len(s.classes) }

// flushDue sends what the rate classes held back through a slot that has
// ended by now and what the delay line holds that is due, closes the bars
// whose time is up, and re-arms the timer for the next of these.
func (s *shard) flushDue(now int64) {
	s.mu.Lock()
	next := s.flush(now)
	for _, at := range [2]int64{releaseAt(s.release(now)), s.closeBars(now)} {
		if at != 0 && (next == 0 || at < next) {
			next = at
		}
	}
	s.mu.Unlock()
	s.t.startWriters()
	s.metrics.batch(0, 0, &s.t)
	s.t.reset()
	s.arm(next)
}

// arm makes the timer fire at at (Unix ns) unless it fires earlier already.
func (s *shard) arm(at int64) {
	if at == 0 || (s.due != 0 && s.due <= at) {
		return
	}
	s.due = at
	s.timer.Reset(time.Until(time.Unix(0, at)))
}

// tally counts what a batch of enqueues did and collects the clients whose
// writers must start once the shard lock is released.
type tally struct {
	enqueued, merged, slow int
	rateConflated          int
	delayConflated         int
	recovered, fallbacks   int
	bars, lateTicks        [numStreams]int // per bar stream
	start                  []*Client       // reused across batches; grows only
}

// send queues m, a message of sub's topic, to sub's client.
func (t *tally) send(sub *subscription, m Message) { t.queue(sub.c, sub, m) }

// queue is send for a caller that has sub's client at hand.
func (t *tally) queue(c *Client, sub *subscription, m Message) {
	m.sub = sub
	res, start := c.enqueue(m)
	switch res {
	case enqueueQueued:
		t.enqueued++
	case enqueueMerged:
		t.merged++
	case enqueueOverflowed:
		t.slow++
	}
	if start {
		t.start = append(t.start, c)
	}
}

// reply queues m, a reply, to c; it is not a tick and is not counted as one.
func (t *tally) reply(c *Client, m Message) {
	res, start := c.enqueue(m)
	if res == enqueueOverflowed {
		t.slow++
	}
	if start {
		t.start = append(t.start, c)
	}
}

func (t *tally) startWriters() {
	for _, c := range t.start {
		c.startWriter()
	}
}

func (t *tally) reset() {
	clear(t.start)
	*t = tally{start: t.start[:0]}
}
