package fanout

import (
	"sync/atomic"
)

// symbol is one symbol in one tier inside its shard: the topics it feeds,
// one per stream, the bars forming for them, and its book and status. The
// realtime symbol is fed by the feed; its delayed twin (delay.go) by the
// shard's delay line. Both feed their bar topics the same way, in
// shard.publish, so a delayed subscriber's bars are delayed too. What
// tells the tiers apart is data, not branches: lag and mark.
type symbol struct {
	name  string
	shard *shard
	// retired is set, under shard.mu, when the symbol is retired
	// (retire.go); it is read without the lock by table lookups and by
	// the sessions pruning their subscriptions. A symbol listed again
	// later is a new symbol.
	retired atomic.Bool
	id      uint64 // listing order (universe.go); its twin has the same
	// prevClose is the float64 bits of the previous close its last
	// listing gave; 0 for none.
	prevClose atomic.Uint64

	// delayed is the symbol's delayed twin, nil without a delayed tier and
	// on the twin itself.
	delayed *symbol
	// lag is how far behind the feed the tier runs: 0, or Config.Delay in
	// ns on a twin. Its bars close that much later on the feed clock, and
	// its ticks' delivery latency counts from their release.
	lag int64
	// mark is spliced before the closing brace of the tier's ticks and
	// bars: "" or `,"delayed":true`.
	mark string

	// topics[st] is the topic of stream st; its subscriptions, last
	// message and history are its own. The ticks and bar topics are made
	// with the symbol; a book or status topic (a lazy stream) only when
	// first subscribed to or fed (symbol.topic), under shard.mu: most of
	// a market has neither.
	topics [numStreams]*topic

	// shard.mu
	// idx is a realtime symbol's position in shard.syms, -1 until the
	// shard takes its first message (shard.add) and once retired; its
	// twin's is unused.
	idx    int
	seen   int64  // when its last tick or listing came (Unix ns), for RetireAfter
	epochs epochs // the run its seqs belong to (epoch.go)
	// bars[st-Bars1s] is the bar of stream st forming (symbol.bar).
	bars [barStreams - Bars1s]barBuilder
	// book is the book topic's order book (book.go), made at the
	// symbol's first book message (bookOf): nil for a symbol the feed
	// sends no book for, which is most of a market.
	book   *bookState
	status statusState // the status topic's trading status (status.go)
}

// lastSeq is the seq of the symbol's last tick, its ticks topic's last
// message; 0 before the epoch's first. The caller holds shard.mu.
func (sym *symbol) lastSeq() uint64 { return sym.topics[Ticks].lastSeq }

// tiers is how many tiers sym is in: 2 with a delayed twin, else 1.
func (sym *symbol) tiers() int {
	if sym.delayed != nil {
		return 2
	}
	return 1
}

// bar is the bar of stream st, a bar stream, forming for the symbol.
func (sym *symbol) bar(st Stream) *barBuilder { return &sym.bars[st-Bars1s] }

// delayedMark marks the delayed tier's messages.
const delayedMark = `,"delayed":true`

func (e *Engine) newSymbol(name string, sh *shard, delayed bool) *symbol {
	sym := &symbol{name: name, shard: sh, idx: -1}
	if delayed {
		sym.lag, sym.mark = int64(e.cfg.Delay), delayedMark
	}
	for _, st := range Streams() {
		if !st.lazy() {
			sym.topics[st] = newTopic(sym, st, e.cfg.topicHistory(st))
		}
	}
	return sym
}

// topic is sym's topic of stream st, made now if it is a lazy stream's
// that nobody has subscribed to and the feed has sent nothing for; its
// bytes are then counted in the memory budget with the symbol's. The
// caller holds shard.mu.
func (sym *symbol) topic(st Stream) *topic {
	if tp := sym.topics[st]; tp != nil {
		return tp
	}
	s := sym.shard
	tp := newTopic(sym, st, s.e.cfg.topicHistory(st))
	if st == Status {
		tp.lastSeq = sym.status.feed.Seq // as sendStatus would have left it
	}
	sym.topics[st] = tp
	s.budget.own(&s.t, topicBytes)
	return tp
}

// topicHistory is how many records a topic of stream st keeps as
// history: History for ticks and book updates, BarHistory for bars, none
// for a status, whose current state is all of it.
func (cfg *Config) topicHistory(st Stream) int {
	switch {
	case st.Bars():
		return cfg.BarHistory
	case st == Status:
		return 0
	}
	return cfg.History
}
