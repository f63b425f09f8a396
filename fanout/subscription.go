package fanout

import (
	"fmt"
	"slices"
)

// Policy is how a client wants one subscribe request's symbols delivered.
type Policy struct {
	// MaxRate caps updates per second per symbol; 0 means every tick. It is
	// rounded down to one of Config.RateClasses (up to the lowest one).
	MaxRate float64
	// Since maps a symbol to the last seq the client saw. A symbol whose
	// ticks after it are still in the history ring gets exactly those
	// (Result.Recovered); one whose are not gets a snapshot
	// (Result.Snapshot). A symbol not in Since gets a snapshot as usual.
	Since map[string]uint64
	// Delayed subscribes to the delayed tier: each tick Config.Delay after
	// its feed timestamp, marked "delayed":true.
	Delayed bool
}

// Result is what Subscribe did.
type Result struct {
	// Added lists the symbols newly subscribed, in request order.
	Added []string
	// Rate is the effective rate class, or 0 for every tick.
	Rate float64
	// Recovered and Snapshot split the newly added symbols that Policy.Since
	// names: recovered from history, or fallen back to a snapshot. Both are
	// nil when Since is nil.
	Recovered, Snapshot []string
}

// subscription is one client's subscription to one symbol: the client and
// its policy (rate class). The symbol's shard owns it.
type subscription struct {
	c   *Client
	sym *symbol

	// shard.mu
	class int    // index into the symbol's classes; 0 is every tick
	idx   int    // position in its class's subscriber list
	sent  uint64 // seq of the last tick queued to a rate-limited subscription

	// Client.mu
	queued uint64 // queue position of this subscription's newest tick (queue.replace)
}

// subList is a class's subscribers; removal moves the last one into the
// gap. Each entry carries the client beside the subscription, so the
// every-tick loop reaches the client without loading the subscription.
type subList []subRef

type subRef struct {
	c   *Client
	sub *subscription
}

func (l *subList) add(s *subscription) {
	s.idx = len(*l)
	*l = append(*l, subRef{s.c, s})
}

func (l *subList) remove(s *subscription) {
	last := len(*l) - 1
	moved := (*l)[last]
	(*l)[s.idx] = moved
	moved.sub.idx = s.idx
	(*l)[last] = subRef{}
	*l = (*l)[:last]
}

// Subscribe subscribes c to syms with policy p. Under the locks of every
// shard involved, taken in shard order, it queues the reply that reply
// encodes from the Result (nil queues none), then, for each newly added
// symbol, its catch-up (history after Policy.Since) or snapshot. So the
// reply precedes each symbol's first tick on the wire, and the live ticks
// that follow continue its seq with nothing lost or repeated. A symbol
// already held moves to the new rate class, with no snapshot. If any symbol
// is unknown, nothing changes. Subscribe, Unsubscribe and SymbolsOf of one
// client must be called from one goroutine.
func (e *Engine) Subscribe(c *Client, syms []string, p Policy, reply func(Result) []byte) (Result, error) {
	for _, name := range syms {
		if !e.Known(name) {
			return Result{}, fmt.Errorf("%w: %q", ErrUnknownSymbol, name)
		}
	}
	if p.Delayed && e.cfg.Delay <= 0 {
		return Result{}, ErrNoDelayedTier
	}
	class := classOf(e.classes, p.MaxRate)
	res := Result{Rate: e.RateOf(p.MaxRate)}
	unlock := e.lockShards(syms)
	recover := make(map[*symbol]bool, len(p.Since))
	for _, name := range syms {
		sym := e.topic(name, p.Delayed)
		if _, held := c.subs[sym]; held {
			continue
		}
		if _, dup := recover[sym]; dup {
			continue
		}
		res.Added = append(res.Added, name)
		since, ok := p.Since[name]
		recover[sym] = ok && sym.recoverable(since)
		switch {
		case !ok:
		case recover[sym]:
			res.Recovered = append(res.Recovered, name)
		default:
			res.Snapshot = append(res.Snapshot, name)
		}
	}
	var t tally
	if reply != nil {
		t.reply(c, Message{Data: reply(res)})
	}
	for _, name := range syms {
		e.subscribeLocked(&t, c, e.topic(name, p.Delayed), class, p.Since, recover)
	}
	unlock()
	t.startWriters()
	e.subscriptions.Add(int64(len(res.Added)))
	e.metrics.subscribed(&t)
	return res, nil
}

// subscribeLocked adds or moves c's subscription to sym. The caller holds
// sym's shard lock.
func (e *Engine) subscribeLocked(t *tally, c *Client, sym *symbol, class int, since map[string]uint64, recover map[*symbol]bool) {
	if sub, held := c.subs[sym]; held {
		if sub.class != class {
			sym.move(t, sub, class)
		}
		return
	}
	sub := &subscription{c: c, sym: sym, class: class}
	c.subs[sym] = sub
	n := sym.catchUp(t, sub, since[sym.name], recover[sym])
	t.recovered += n
	if _, asked := since[sym.name]; asked && !recover[sym] {
		t.fallbacks++
	}
	sym.subscribe(sub)
}

// lockShards locks the shards of syms in shard order and returns the
// function that unlocks them.
func (e *Engine) lockShards(syms []string) (unlock func()) {
	locked := make([]*shard, 0, len(e.shards))
	for _, name := range syms {
		if sh := e.symbols[name].shard; !slices.Contains(locked, sh) {
			locked = append(locked, sh)
		}
	}
	slices.SortFunc(locked, func(a, b *shard) int { return a.id - b.id })
	for _, sh := range locked {
		sh.mu.Lock()
	}
	return func() {
		for _, sh := range locked {
			sh.mu.Unlock()
		}
	}
}

// Unsubscribe removes c from each of syms it is subscribed to and returns
// those symbols. Ticks already queued stay queued.
func (e *Engine) Unsubscribe(c *Client, syms []string) []string {
	var removed []string
	for _, name := range syms {
		sub := e.subscriptionOf(c, name)
		if sub == nil {
			continue
		}
		e.unsubscribe(sub)
		removed = append(removed, name)
	}
	return removed
}

// UnsubscribeAll removes c from every symbol; sessions call it on close.
func (e *Engine) UnsubscribeAll(c *Client) {
	for _, sub := range c.subs {
		e.unsubscribe(sub)
	}
}

func (e *Engine) unsubscribe(sub *subscription) {
	sh := sub.sym.shard
	sh.mu.Lock()
	sub.sym.unsubscribe(sub)
	sh.mu.Unlock()
	delete(sub.c.subs, sub.sym)
	e.subscriptions.Add(-1)
}

// SymbolsOf returns the symbols c is subscribed to, in engine order.
func (e *Engine) SymbolsOf(c *Client) []string {
	out := make([]string, 0, len(c.subs))
	for _, name := range e.names {
		if e.subscriptionOf(c, name) != nil {
			out = append(out, name)
		}
	}
	return out
}

// topic returns the symbol state a subscription to name reads: the
// realtime symbol, or its delayed twin.
func (e *Engine) topic(name string, delayed bool) *symbol {
	sym := e.symbols[name]
	if delayed {
		return sym.delayed
	}
	return sym
}

// subscriptionOf returns c's subscription to name in either tier, or nil.
func (e *Engine) subscriptionOf(c *Client, name string) *subscription {
	sym := e.symbols[name]
	if sym == nil {
		return nil
	}
	if sub, ok := c.subs[sym]; ok {
		return sub
	}
	if sym.delayed != nil {
		return c.subs[sym.delayed]
	}
	return nil
}

// Subscriptions reports the number of (client, symbol) subscriptions.
func (e *Engine) Subscriptions() int64 { return e.subscriptions.Load() }
