package fanout

import "slices"

// subscription is one client's subscription to one topic: the client and
// its policy (rate class). The topic's shard owns it.
type subscription struct {
	c     *Client
	topic *topic
	kind  subKind // how its messages' count is named on the wire (Message.AppendTo)

	// shard.mu
	class int    // index into the topic's classes; 0 is every message
	idx   int    // position in its class's subscriber list
	sent  uint64 // seq of the last message queued to a rate-limited subscription
	// progress is a bar subscription's progress updates, a subscription
	// of its own in the topic's partialClass, so its queued partial bar is
	// conflated apart from its final bars; nil if it did not ask.
	progress *subscription

	// Client.mu
	queued uint64 // queue position of this subscription's newest message (queue.replace)
}

// subKind tells what a subscription's messages are, for the name of their
// count on the wire.
type subKind uint8

const (
	tickSub     subKind = iota // ticks: "n" counts the ticks one stands for
	barSub                     // final bars: "span" counts the bar seqs one stands for
	progressSub                // partial bars: no count
)

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

// Subscribe subscribes c to syms on policy p's stream. Under the locks of
// every shard involved, taken in shard order, it queues the reply that
// reply encodes from the Result (nil queues none), then, for each newly
// added symbol, its catch-up (history after Policy.Since, or the last
// Policy.History messages) or snapshot. So the reply precedes each
// symbol's first message on the wire, and the live messages that follow
// continue its seq with nothing lost or repeated. A symbol already held on
// the stream moves to the new rate class and takes or drops progress
// updates, with no snapshot. If check refuses the request (an unknown
// symbol, a policy the engine cannot serve), nothing changes.
// Subscribe, Unsubscribe and SymbolsOf of one client must be called from
// one goroutine.
func (e *Engine) Subscribe(c *Client, syms []string, p Policy, reply func(Result) []byte) (Result, error) {
	if err := e.check(syms, &p); err != nil {
		return Result{}, err
	}
	class := phasedClass(classOf(e.classes, p.MaxRate), e.cfg.RatePhases, c.phase)
	res := Result{Rate: e.RateOf(p.MaxRate)}
	unlock := e.lockShards(syms)
	recover := make(map[*topic]bool, len(p.Since))
	for _, name := range syms {
		tp := e.topic(name, p.Stream, p.Delayed)
		if _, held := c.subs[tp]; held {
			continue
		}
		if _, dup := recover[tp]; dup {
			continue
		}
		res.Added = append(res.Added, name)
		since, ok := p.Since[name]
		recover[tp] = ok && tp.recoverable(since)
		switch {
		case !ok:
		case recover[tp]:
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
		e.subscribeLocked(&t, c, e.topic(name, p.Stream, p.Delayed), class, &p, recover)
	}
	unlock()
	t.startWriters()
	e.subscriptions.Add(int64(len(res.Added)))
	e.metrics.subscribed(&t)
	return res, nil
}

// subscribeLocked adds or moves c's subscription to tp. The caller holds
// tp's shard lock.
func (e *Engine) subscribeLocked(t *tally, c *Client, tp *topic, class int, p *Policy, recover map[*topic]bool) {
	sub, held := c.subs[tp]
	switch {
	case !held:
		sub = &subscription{c: c, topic: tp, class: class}
		if tp.stream.Bars() {
			sub.kind = barSub
		}
		c.subs[tp] = sub
		since, asked := p.Since[tp.sym.name]
		t.recovered += tp.catchUp(t, sub, since, recover[tp], p.History)
		if asked && !recover[tp] {
			t.fallbacks++
		}
		tp.subscribe(sub)
	case sub.class != class:
		tp.move(t, sub, class)
	}
	switch {
	case p.Partial && sub.progress == nil:
		sub.progress = &subscription{c: c, topic: tp, kind: progressSub, class: tp.sym.shard.partialClass()}
		tp.subscribe(sub.progress)
	case !p.Partial && sub.progress != nil:
		tp.unsubscribe(sub.progress)
		sub.progress = nil
	}
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

// Unsubscribe removes c from each of syms it is subscribed to on stream st
// and returns those symbols. Messages already queued stay queued.
func (e *Engine) Unsubscribe(c *Client, st Stream, syms []string) []string {
	var removed []string
	for _, name := range syms {
		sub := e.subscriptionOf(c, st, name)
		if sub == nil {
			continue
		}
		e.unsubscribe(sub)
		removed = append(removed, name)
	}
	return removed
}

// UnsubscribeAll removes c from every topic; sessions call it on close.
func (e *Engine) UnsubscribeAll(c *Client) {
	for _, sub := range c.subs {
		e.unsubscribe(sub)
	}
}

func (e *Engine) unsubscribe(sub *subscription) {
	tp := sub.topic
	sh := tp.sym.shard
	sh.mu.Lock()
	tp.unsubscribe(sub)
	if sub.progress != nil {
		tp.unsubscribe(sub.progress)
	}
	sh.mu.Unlock()
	delete(sub.c.subs, tp)
	e.subscriptions.Add(-1)
}

// SymbolsOf returns the symbols c is subscribed to on stream st, in engine
// order.
func (e *Engine) SymbolsOf(c *Client, st Stream) []string {
	out := make([]string, 0, len(c.subs))
	for _, name := range e.names {
		if e.subscriptionOf(c, st, name) != nil {
			out = append(out, name)
		}
	}
	return out
}

// SubscriptionsOf reports the number of (stream, symbol) subscriptions c
// holds.
func (e *Engine) SubscriptionsOf(c *Client) int { return len(c.subs) }

// topic returns the topic a subscription to name on stream st reads: the
// realtime symbol's, or its delayed twin's.
func (e *Engine) topic(name string, st Stream, delayed bool) *topic {
	sym := e.symbols[name]
	if delayed {
		sym = sym.delayed
	}
	return sym.topics[st]
}

// subscriptionOf returns c's subscription to name on stream st in either
// tier, or nil.
func (e *Engine) subscriptionOf(c *Client, st Stream, name string) *subscription {
	sym := e.symbols[name]
	if sym == nil || int(st) >= numStreams {
		return nil
	}
	if sub, ok := c.subs[sym.topics[st]]; ok {
		return sub
	}
	if sym.delayed != nil {
		return c.subs[sym.delayed.topics[st]]
	}
	return nil
}

// Subscriptions reports the number of (client, stream, symbol)
// subscriptions.
func (e *Engine) Subscriptions() int64 { return e.subscriptions.Load() }
