package fanout

import "github.com/tickgate/tickgate/feed"

// symbol is one symbol in one tier inside its shard: the topics it feeds,
// one per stream, the bars forming for them, and its last tick. The
// realtime symbol is fed by the feed; its delayed twin (delay.go) by the
// shard's delay line. Both feed their bar topics the same way, in
// shard.publish, so a delayed subscriber's bars are delayed too. What
// tells the tiers apart is data, not branches: lag and mark.
type symbol struct {
	name  string
	shard *shard
	idx   int // a realtime symbol's position in shard.syms; its twin's is unused

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
	// message and history are its own.
	topics [numStreams]*topic

	// shard.mu
	epochs epochs // the run its seqs belong to (epoch.go)
	last   feed.Tick
	bars   [barStreams]barBuilder // [Ticks] is unused
	book   bookState              // the book topic's order book (book.go)
	status statusState            // the status topic's trading status (status.go)
}

// delayedMark marks the delayed tier's messages.
const delayedMark = `,"delayed":true`

func (e *Engine) newSymbol(name string, sh *shard, delayed bool) *symbol {
	sym := &symbol{name: name, shard: sh}
	if delayed {
		sym.lag, sym.mark = int64(e.cfg.Delay), delayedMark
	}
	for _, st := range Streams() {
		history := e.cfg.History // ticks, and book updates
		switch {
		case st.Bars():
			history = e.cfg.BarHistory
		case st == Status:
			history = 0 // the current status is the whole state
		}
		sym.topics[st] = newTopic(sym, st, history)
	}
	return sym
}
