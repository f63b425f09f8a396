package fanout

import (
	"cmp"
	"fmt"
	"slices"
)

// subscription is one client's subscription to one topic: the client and
// its policy (rate class, progress updates). The topic's shard owns it.
type subscription struct {
	c     *Client
	topic *topic

	// shard.mu
	class       int    // index into the topic's classes; 0 is every message
	idx         int    // position in its class's subscriber list
	sent        uint64 // seq of the last message queued to a rate-limited subscription
	progressIdx int    // position in the topic's progress list; -1 if it takes none

	// What the client's conflating queue merges this subscription's
	// messages by: its ticks or final bars (live), and apart from them its
	// progress updates (partial), so a partial bar never replaces a final
	// one.
	live, partial mergeKey
}

func newSubscription(c *Client, tp *topic, class int) *subscription {
	sub := &subscription{c: c, topic: tp, class: class, progressIdx: -1}
	sub.live = mergeKey{sub: sub, kind: tickSub}
	sub.partial = mergeKey{sub: sub, kind: progressSub}
	switch {
	case tp.stream.Bars():
		sub.live.kind = barSub
	case tp.stream == Book:
		sub.live.kind = bookSub
	case tp.stream == Status:
		sub.live.kind = statusSub
	}
	return sub
}

// catchUpKey is the key sub's snapshot and recovered messages are queued
// by: its live key, but on a book bookCatchUpKey, as a book's updates
// merge in a lagging queue only with the structure of what is being sent
// (bookState.sending), which a catch-up message lacks.
func (sub *subscription) catchUpKey() *mergeKey {
	if sub.live.kind == bookSub {
		return &bookCatchUpKey
	}
	return &sub.live
}

// mergeKey is one of a subscription's keys for queue.replace. The lists
// that deliver a subscription's messages hold its key, not the
// subscription, so the every-tick loop hands the key to the queue without
// loading the subscription.
type mergeKey struct {
	sub    *subscription // its owner
	kind   subKind       // how its messages' count is named on the wire (Message.AppendTo)
	queued uint64        // Client.mu: queue position of its newest message
	// span is, on a book, the merged update its queued message stands
	// for while the queue conflates (queue.replace), and spanBytes the
	// bound of its wire form, which the queue counts until a drain
	// encodes it; made at the first merge. Client.mu protects them.
	span      *bookSpan
	spanBytes int
}

// subKind tells what a subscription's messages are, for the name of their
// count on the wire.
type subKind uint8

const (
	tickSub     subKind = iota // ticks: "n" counts the ticks one stands for
	barSub                     // final bars: "span" counts the bar seqs one stands for
	progressSub                // partial bars: no count
	bookSub                    // book messages: "n" counts the updates one stands for, merged per price level
	statusSub                  // status: no count, the latest replaces the one queued
	noticeSub                  // a topic's notices (noticeKey): no count, never merged
	catchUpSub                 // a book's catch-up (bookCatchUpKey): "n" as on ticks, never merged
)

// barrier reports whether messages of kind are barriers in a conflating
// queue (queue.pushNotice): never merged, and never merged across.
func (k subKind) barrier() bool { return k >= noticeSub }

// noticeKey marks a topic's reset and gap notices (tally.notice), and
// bookCatchUpKey a book's snapshot and recovered updates. They are shared
// by every client and never written: push takes them off the message
// before it queues it while conflating, and merges nothing into it.
var (
	noticeKey      = mergeKey{kind: noticeSub}
	bookCatchUpKey = mergeKey{kind: catchUpSub}
)

// subList is a class's (or a topic's progress) subscribers, by the merge
// key their messages there go with; removal moves the last one into the
// gap. Each entry carries the client beside the key, so the every-tick
// loop reaches the client without loading the subscription.
type subList []subRef

type subRef struct {
	c   *Client
	key *mergeKey
}

// push appends key's subscription and returns its position.
func (l *subList) push(key *mergeKey) int {
	*l = append(*l, subRef{key.sub.c, key})
	return len(*l) - 1
}

// removeAt removes the entry at i, moving the last one into the gap, and
// returns the moved subscription (nil if none moved) for the caller to
// give its new position.
func (l *subList) removeAt(i int) (moved *subscription) {
	last := len(*l) - 1
	if i != last {
		moved = (*l)[last].key.sub
		(*l)[i] = (*l)[last]
	}
	(*l)[last] = subRef{}
	*l = (*l)[:last]
	return moved
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
// symbol, a policy the engine cannot serve), or a symbol is retired
// before the locks are taken, nothing changes.
// Subscribe, Unsubscribe, SymbolsOf and SubscriptionsOf of one client
// must be called from one goroutine.
func (e *Engine) Subscribe(c *Client, names []string, p Policy, reply func(Result) []byte) (Result, error) {
	e.prune(c)
	syms, err := e.check(names, &p)
	if err != nil {
		return Result{}, err
	}
	class := phasedClass(classOf(e.classes, p.MaxRate), e.cfg.RatePhases, c.phase)
	res := Result{Rate: e.RateOf(p.MaxRate)}
	unlock := lockShards(syms)
	for _, sym := range syms {
		if sym.retired.Load() { // since check: the feed delisted it meanwhile
			unlock()
			return Result{}, fmt.Errorf("%w: %q", ErrUnknownSymbol, sym.name)
		}
	}
	recover := make(map[*topic]bool, len(p.Since))
	for _, sym := range syms {
		tp := sym.topicOf(p.Stream, p.Delayed)
		if _, held := c.subs[tp]; held {
			continue
		}
		if _, dup := recover[tp]; dup {
			continue
		}
		res.Added = append(res.Added, sym.name)
		if ep := tp.sym.epochs.current; ep != "" {
			if res.Epochs == nil {
				res.Epochs = make(map[string]string)
			}
			res.Epochs[sym.name] = ep
		}
		since, ok := p.Since[sym.name]
		recover[tp] = ok && tp.recoverableFrom(since)
		switch {
		case !ok:
		case recover[tp]:
			res.Recovered = append(res.Recovered, sym.name)
		default:
			res.Snapshot = append(res.Snapshot, sym.name)
		}
	}
	var t tally
	if reply != nil {
		t.reply(c, Message{Data: reply(res)})
	}
	for _, sym := range syms {
		e.subscribeLocked(&t, c, sym.topicOf(p.Stream, p.Delayed), class, &p, recover)
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
		sub = newSubscription(c, tp, class)
		c.subs[tp] = sub
		since, asked := p.Since[tp.sym.name]
		t.recovered += tp.catchUp(t, sub, since.Seq, recover[tp], p.History)
		if asked && !recover[tp] && tp.stream != Status { // a status always comes whole
			t.fallbacks++
		}
		tp.subscribe(sub)
		tp.sym.shard.budget.touch(tp, true)
	case sub.class != class:
		tp.move(t, sub, class)
	}
	switch {
	case p.Partial && sub.progressIdx < 0:
		tp.progressOf().add(sub)
	case !p.Partial && sub.progressIdx >= 0:
		tp.progress.remove(sub)
	}
}

// lockShards locks the shards of syms in shard order and returns the
// function that unlocks them.
func lockShards(syms []*symbol) (unlock func()) {
	var locked []*shard
	for _, sym := range syms {
		if !slices.Contains(locked, sym.shard) {
			locked = append(locked, sym.shard)
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
	e.prune(c)
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
	gone := tp.sym.retired.Load() // its shard dropped it, counted it and released the topic, then
	if !gone {
		tp.unsubscribe(sub)
		if sub.progressIdx >= 0 {
			tp.progress.remove(sub)
		}
		if !tp.hasSubscribers() {
			sh.budget.touch(tp, false)
		}
	}
	sh.mu.Unlock()
	delete(sub.c.subs, tp)
	if !gone {
		e.subscriptions.Add(-1)
	}
}

// SymbolsOf returns the symbols c is subscribed to on stream st, in
// listing order.
func (e *Engine) SymbolsOf(c *Client, st Stream) []string {
	e.prune(c)
	held := make([]*symbol, 0, len(c.subs))
	for tp := range c.subs {
		if tp.stream == st {
			held = append(held, tp.sym)
		}
	}
	slices.SortFunc(held, func(a, b *symbol) int { return cmp.Compare(a.id, b.id) })
	out := make([]string, len(held))
	for i, sym := range held {
		out[i] = sym.name
	}
	return out
}

// SubscriptionsOf reports the number of (stream, symbol) subscriptions c
// holds.
func (e *Engine) SubscriptionsOf(c *Client) int {
	e.prune(c)
	return len(c.subs)
}

// topicOf returns the topic a subscription to sym on stream st reads: the
// realtime symbol's, or its delayed twin's, made now if it is a lazy
// stream's (symbol.topic). The caller holds sym's shard lock.
func (sym *symbol) topicOf(st Stream, delayed bool) *topic {
	if delayed {
		sym = sym.delayed
	}
	return sym.topic(st)
}

// subscriptionOf returns c's subscription to name on stream st in either
// tier, or nil.
func (e *Engine) subscriptionOf(c *Client, st Stream, name string) *subscription {
	sym := e.lookup(name)
	if sym == nil || int(st) >= numStreams {
		return nil
	}
	sym.shard.mu.Lock() // a lazy stream's topic may be made meanwhile
	tiers := [2]*topic{sym.topics[st]}
	if sym.delayed != nil {
		tiers[1] = sym.delayed.topics[st]
	}
	sym.shard.mu.Unlock()
	for _, tp := range tiers {
		if sub, ok := c.subs[tp]; ok { // a nil tp, never made, is in no client's subs
			return sub
		}
	}
	return nil
}

// Subscriptions reports the number of (client, stream, symbol)
// subscriptions.
func (e *Engine) Subscriptions() int64 { return e.subscriptions.Load() }
