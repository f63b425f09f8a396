package fanout

import "github.com/tickgate/tickgate/feed"

// symbol is one symbol in one tier inside its shard: the topics it feeds,
// one per stream, the bars forming for them, and its last tick. The
// realtime symbol is fed by the feed; its delayed twin (delay.go) by the
// shard's delay line. Both feed their bar topics the same way, in
// shard.publish, so a delayed subscriber's bars are delayed too.
type symbol struct {
	name  string
	shard *shard

	// delayed is the symbol's delayed twin, nil without a delayed tier;
	// on the twin itself it is nil and isDelayed is set.
	delayed   *symbol
	isDelayed bool

	// topics[st] is the topic of stream st; its subscriptions, last
	// message and history are its own.
	topics [numStreams]*topic

	// shard.mu
	last feed.Tick
	bars [numStreams]barBuilder // [Ticks] is unused
	// held is a delayed twin's part of the delay line, oldest first from
	// heldHead.
	held     []heldTick
	heldHead int
}

func (e *Engine) newSymbol(name string, sh *shard, delayed bool) *symbol {
	sym := &symbol{name: name, shard: sh, isDelayed: delayed}
	for _, st := range Streams() {
		history := e.cfg.History
		if st.Bars() {
			history = e.cfg.BarHistory
		}
		sym.topics[st] = &topic{
			sym:     sym,
			stream:  st,
			history: newRing(max(history, 0)),
		}
	}
	return sym
}
