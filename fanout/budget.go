package fanout

import (
	"container/heap"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/tickgate/tickgate/feed"
)

// The memory budget (Config.MemoryBudget) bounds every message the engine
// keeps: each topic's records (its snapshot and history, ring.go) and the
// delay line's held ticks (delay.go); and with them the state every listed
// symbol has whether or not anything is kept for it (symbolBytes: its
// topics, forming bars, status, book and table entry), so what the engine
// holds grows with the budget, not with the number of symbols. A listing
// takes its symbol's bytes from the history of the least recently
// subscribed topics, as a growing ring does (budget.own). What is kept is
// fixed-size records in arrays the budget sizes, so the bytes counted are
// the bytes allocated:
// a ring's capacity times its element size. A book's messages vary in
// size, so a book topic keeps their bytes too, in a log of blocks it lets
// go as its records leave (booklog.go), counted as it allocates them; and
// a held book or status counts its payload beside its slot
// (delay_depth.go). Live message bytes (the
// shard's arena, client queues) are not kept by the engine and are not in
// the budget: queues are bounded per client by Config.QueueBytes.
//
// The budget is split evenly over the shards, so a shard never looks at
// another's: each keeps at most its share, under its own lock, and
// publishes its totals once per batch for the metrics. Symbols
// hash evenly over shards, so equal shares fit equal demand.
//
// A ring starts with room for one record, its snapshot, and grows (by
// doubling, up to its history) only when its shard's share has room or
// can make room by releasing the history of topics less recently
// subscribed than it: the least recently subscribed first, each from its
// oldest record. A topic subscribed now is more recent than any without
// subscribers; among those, the one whose last subscription is newer is
// more recent; a topic never subscribed is the least recent of all. A
// ring that may not grow wraps, overwriting its oldest record. The delay
// line ranks above every history: a lane that needs room releases history
// first, and only when none is left folds its own held ticks (delay.go).
// A snapshot, or a lane's first held tick, is given room even past the
// share once there is no history left to release: those are what a
// symbol is, so a shard passes its share only by them and by its symbols'
// own state: at most its topics × recordBytes plus its lanes ×
// heldTickBytes plus its symbols' symbolBytes. universe.max_symbols bounds
// that part.
type budget struct {
	share int64 // the bytes this shard may keep

	// shard.mu
	used    [numKinds]int64 // kept bytes by kind
	total   int64           // the sum of used
	victims victims         // topics with history to release, least recent first
	clock   uint64          // counts subscription changes, for recency

	// kept is used, published once per batch for the metrics: written by
	// the shard under shard.mu, read by anyone while keptSeq is even and
	// unchanged around the read (a seqlock), so the kinds read together
	// are of one batch.
	kept    [numKinds]atomic.Int64
	keptSeq atomic.Uint64
}

// keptKind is what kept bytes belong to: a label value of the memory
// metrics.
type keptKind uint8

const (
	keptTicks   keptKind = iota // ticks topics' records
	keptBars                    // bar topics' records
	keptDelay                   // the delay line's held ticks, books and statuses
	keptBooks                   // book topics' records and the bytes of their log (booklog.go)
	keptSymbols                 // the listed symbols' own state (symbolBytes, bookStateBytes)
	numKinds
)

var kindNames = [numKinds]string{keptTicks: "ticks", keptBars: "bars", keptDelay: "delay_line", keptBooks: "books", keptSymbols: "symbols"}

func (k keptKind) String() string { return kindNames[k] }

// tableEntryBytes is what a listed symbol costs the universe's table
// (universe.go) beside its symbol: a slot in the base map and in order.
const tableEntryBytes = 48

// symbolBytes is what a listed symbol named name costs the engine before
// anything is kept for it: its symbol and its ticks and bar topics in
// each tier (tiers is 2 with a delayed tier), its name and its entry in
// the table. Rate-class and progress state is made by subscriptions and is
// theirs. BenchmarkListedSymbolMemory measures it; TestSymbolBytesMeasured
// holds it to the heap.
func symbolBytes(name string, tiers int) int64 {
	tier := int64(unsafe.Sizeof(symbol{})) + numEager*topicBytes
	return int64(tiers)*tier + int64(len(name)) + tableEntryBytes
}

// topicBytes is what a topic costs, counted with its symbol's bytes; a
// lazy stream's (Stream.lazy) when it is made.
const topicBytes = int64(unsafe.Sizeof(topic{}))

// bookStateBytes is what a symbol's order book (bookState) costs at its
// most, depth levels a side: each side's levels in four places (the book,
// the sides being built, the delta and its spare, a bool each in the last
// two) and the checksum's string. It is counted when the book is made.
func bookStateBytes(depth int) int64 {
	const level = int64(unsafe.Sizeof(feed.Level{}))
	return int64(unsafe.Sizeof(bookState{})) + 2*int64(depth)*(4*level+2) + 2*feed.ChecksumDepth*32
}

// held marks the recency of a topic with subscribers: above every topic
// without.
const held = uint64(1) << 63

// always is the rank of a request that may release any history: the
// delay line's and a snapshot's.
const always = ^uint64(0)

// fits reports whether delta more bytes fit the share, releasing the
// history of topics whose recency is below rank, least recent first, to
// make room. A victim gives up at least half its ring: a shrink copies
// the ring into a new array, so releasing only what this request needs
// would copy the same victim again at the next request, a ring's worth
// of copying per doubling of another ring once the budget is full (a
// whole market's rings growing under it). Halving is paid for by the
// requests its room serves, as a ring's doubling is. The caller holds
// shard.mu.
func (b *budget) fits(t *tally, delta int64, rank uint64) bool {
	for b.total+delta > b.share {
		tp := b.victims.least()
		if tp == nil || tp.recency >= rank {
			return false
		}
		need := (b.total + delta - b.share + recordBytes - 1) / recordBytes
		c := len(tp.kept.buf)
		b.shrink(t, tp, max(min(c-int(need), c/2), tp.floor()))
	}
	return true
}

// own counts n more bytes (or fewer, n < 0) of a listed symbol's own
// state, releasing any history, least recent first, to fit more: a
// symbol's state is what it is, so it is counted whatever the share. The
// caller holds shard.mu.
func (b *budget) own(t *tally, n int64) {
	b.add(keptSymbols, n)
	if n > 0 {
		b.fits(t, 0, always)
	}
}

// add counts delta bytes more (or fewer) of kind. The caller holds
// shard.mu.
func (b *budget) add(k keptKind, delta int64) {
	b.used[k] += delta
	b.total += delta
}

// grow gives tp's full ring more room toward its history, if the budget
// fits it; a ring with no room at all gets one record, its snapshot,
// regardless (a book's snapshot is its state: its ring is history alone,
// tp.floor). The caller holds shard.mu.
func (b *budget) grow(t *tally, tp *topic) {
	c := len(tp.kept.buf)
	want := max(tp.history, tp.floor())
	if c >= want {
		return
	}
	nc, rank := min(max(2*c, 8), want), tp.recency
	if c == 0 && tp.floor() > 0 {
		nc, rank = 1, always
	}
	delta := int64(nc-c) * recordBytes
	if !b.fits(t, delta, rank) && c > 0 {
		return
	}
	b.resize(tp, nc)
}

// shrink releases tp's oldest records down to capacity c, counting them
// and their bytes as evicted.
func (b *budget) shrink(t *tally, tp *topic, c int) {
	k, before := tp.kind(), b.used[tp.kind()]
	t.evicted[k] += int64(b.resize(tp, c))
	t.evictedBytes[k] += before - b.used[k] // records, and a book's log blocks with them
}

// resize gives tp's ring capacity c and accounts for it: its bytes, and
// whether it has history to release. It returns the records dropped.
func (b *budget) resize(tp *topic, c int) (dropped int) {
	b.add(tp.kind(), int64(c-len(tp.kept.buf))*recordBytes)
	dropped = tp.kept.resize(c)
	tp.keptChanged()
	switch floor := tp.floor(); {
	case c > floor && tp.victim < 0:
		heap.Push(&b.victims, tp)
	case c <= floor && tp.victim >= 0:
		heap.Remove(&b.victims, tp.victim)
	}
	return dropped
}

// release lets go of everything tp keeps, its snapshot and history, and
// gives their bytes back: the one call that returns a topic's memory (a
// retired symbol's topics; its delay-line lane is delayLine.release). A
// later message starts it again from one record. The caller holds
// shard.mu.
func (b *budget) release(tp *topic) { b.resize(tp, 0) }

// touch records a change of tp's subscriptions: hasSubs tells whether it
// has subscribers now. The caller holds shard.mu.
func (b *budget) touch(tp *topic, hasSubs bool) {
	b.clock++
	tp.recency = b.clock
	if hasSubs {
		tp.recency |= held
	}
	if tp.victim >= 0 {
		heap.Fix(&b.victims, tp.victim)
	}
}

// publish makes the kept bytes visible to the metrics; the shard calls it
// once per batch.
func (b *budget) publish() {
	b.keptSeq.Add(1)
	for k := range b.used {
		b.kept[k].Store(b.used[k])
	}
	b.keptSeq.Add(1)
}

// published is what the shard kept at its last batch, by kind.
func (b *budget) published() (kept [numKinds]int64) {
	for {
		seq := b.keptSeq.Load()
		for k := range kept {
			kept[k] = b.kept[k].Load()
		}
		if seq%2 == 0 && b.keptSeq.Load() == seq {
			return kept
		}
		runtime.Gosched()
	}
}

// victims is a heap of the topics whose rings hold more than a snapshot,
// the least recently subscribed on top (container/heap). topic.victim is
// each one's index.
type victims []*topic

func (v victims) Len() int           { return len(v) }
func (v victims) Less(i, j int) bool { return v[i].recency < v[j].recency }
func (v victims) Swap(i, j int) {
	v[i], v[j] = v[j], v[i]
	v[i].victim, v[j].victim = i, j
}

func (v *victims) Push(x any) {
	tp := x.(*topic)
	tp.victim = len(*v)
	*v = append(*v, tp)
}

func (v *victims) Pop() any {
	old := *v
	tp := old[len(old)-1]
	old[len(old)-1] = nil
	tp.victim = -1
	*v = old[:len(old)-1]
	return tp
}

// least is the least recently subscribed topic with history, nil if none.
func (v victims) least() *topic {
	if len(v) == 0 {
		return nil
	}
	return v[0]
}
