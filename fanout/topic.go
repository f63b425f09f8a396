package fanout

import "github.com/tickgate/tickgate/feed"

// topic is what the engine fans out: one stream of one symbol in one tier
// (realtime or delayed). It holds the stream's subscriptions, one list per
// rate class, and what it keeps of its messages: its snapshot and
// history, as records (ring.go). Every delivery mechanism (encode once, rate classes,
// conflation, recovery, the delayed tier) works per topic.
type topic struct {
	sym    *symbol
	stream Stream
	// rated counts the subscriptions in classes above 0 (classes).
	rated int32
	// history is how many of the topic's newest records are history, for
	// recovery (Config.History, or BarHistory on a bar stream); 0 keeps
	// only the snapshot.
	history int

	// shard.mu
	lastSeq uint64
	// kept is what the topic keeps: its newest record is the snapshot,
	// and with history > 0 all of them are the history. Its capacity
	// grows toward history as the shard's memory budget allows, and is
	// released oldest first when a more recently subscribed topic needs
	// the room (budget.go).
	kept ring[record]
	// holePrev is the newest hole in the history: the prev (record) of
	// the message that followed it. No since below it is recoverable.
	holePrev uint64
	// recency ranks the topic for the budget: when it last gained or lost
	// a subscription, above every topic without subscribers while it has
	// some (budget.touch). victim is its index in the shard's victims
	// heap, -1 while its ring holds no history to release.
	recency uint64
	victim  int
	// classes[0] is every message; [k] is the shard's rate class k-1 (a
	// configured rate in one phase, rate.go). It is made at the first
	// subscription and grows to the highest class subscribed, so a topic
	// nobody takes costs none of it, and one taken at every message
	// costs one class, not one per rate and phase (57 by default).
	classes []classState
	// progress is a bar topic's progress updates (progress.go), made at
	// its first progress subscription (progressOf); nil before, and on
	// every other stream. Without it a topic takes 128 bytes, not 176.
	progress *progressSubs
}

// newTopic is sym's topic of stream st, keeping history records of
// history.
func newTopic(sym *symbol, st Stream, history int) *topic {
	return &topic{sym: sym, stream: st, history: max(history, 0), victim: -1}
}

// kind is what the budget counts the topic's records as.
func (tp *topic) kind() keptKind {
	switch {
	case tp.stream.Bars():
		return keptBars
	case tp.stream == Book:
		return keptBooks
	}
	return keptTicks
}

// floor is the records the budget leaves the topic whatever it needs:
// one, its snapshot, on a stream whose snapshot is its newest message;
// none on a book, whose snapshot is its state (bookState.snapshot), so
// its records are history alone. A status keeps no records at all.
func (tp *topic) floor() int {
	if tp.stream == Book {
		return 0
	}
	return 1
}

// encodeTick is t's wire form, cut from the shard's arena, with the
// tier's mark (symbol.mark), and where it is there.
func (tp *topic) encodeTick(t *feed.Tick) ([]byte, liveRef) {
	a := &tp.sym.shard.arena
	b := t.AppendJSON(a.start())
	b = append(append(b[:len(b)-1], tp.sym.mark...), '}')
	return a.cut(b)
}

// record makes data, the wire form of rec, the topic's newest message:
// its last seq, its snapshot, and the newest of its history. rec.prev is
// the seq of the message that must come right before it for the two to
// join without a hole: a tick's seq less n, a bar's previous bar. A prev
// past the last message is a hole, which recovery will not cross. It
// returns the live message, carrying ts. The caller holds shard.mu.
func (tp *topic) record(data []byte, rec record, ts int64) Message {
	tp.note(rec)
	if tp.kept.full() {
		s := tp.sym.shard
		s.budget.grow(&s.t, tp)
	}
	tp.kept.put(rec)
	tp.keptChanged()
	return Message{Data: data, TS: ts, N: int64(rec.n)}
}

// note makes rec the topic's last message for its seq and its holes,
// without keeping it (record keeps it too).
func (tp *topic) note(rec record) {
	if rec.prev > tp.lastSeq {
		tp.holePrev = rec.prev
	}
	tp.lastSeq = rec.seq
}

// keptChanged lets go of what no kept record needs any more, after the
// ring dropped records: a book's log blocks older than its oldest record.
// The caller holds shard.mu.
func (tp *topic) keptChanged() {
	if tp.stream != Book || tp.sym.book == nil { // no book message, nothing kept
		return
	}
	switch lg := &tp.sym.book.log; {
	case len(tp.kept.buf) == 0: // let go of altogether
		lg.release(&tp.sym.shard.budget)
	default:
		lg.trim(&tp.sym.shard.budget, tp.kept.oldest())
	}
}

// bytesOf returns r's wire bytes: where its live bytes still are in the
// shard's arena, or else encoded there again (and r now names those, so
// the next catch-up shares them). The caller holds shard.mu.
func (tp *topic) bytesOf(r *record) []byte {
	if tp.stream == Book { // kept in the book's own log, never made again
		b, _ := tp.sym.book.log.resolve(r.live)
		return b
	}
	if b, ok := tp.sym.shard.arena.resolve(r.live); ok {
		return b
	}
	var data []byte
	switch {
	case tp.stream.Bars():
		b := r.bar()
		data, r.live = tp.encodeBar(&b, r.prev)
	default:
		t := r.tick(tp.sym.name)
		data, r.live = tp.encodeTick(&t)
	}
	return data
}

// recoverable reports whether a subscription whose client last saw seq
// since can be brought up to date from history alone: since is the last
// message, or the history still reaches back to since (its oldest record
// joins since or something older) and has no hole after it. A since
// beyond the last is not: the seqs were reset (a restarted feed) or this
// gateway lags the one the client came from, and a snapshot says so.
func (tp *topic) recoverable(since uint64) bool {
	switch {
	case since == tp.lastSeq:
		return true
	case since > tp.lastSeq, since < tp.holePrev, tp.history == 0:
		return false
	}
	a, _ := tp.kept.ordered() // a is empty only when the ring is
	return len(a) > 0 && a[0].prev <= since
}

// recoverableFrom is recoverable for a Position: never from another epoch
// than the topic's current one (a legacy position, Epoch "", is taken as
// the current one).
func (tp *topic) recoverableFrom(since Position) bool {
	switch {
	case tp.stream == Status: // a state, not a stream: always sent whole
		return false
	case tp.stream == Book && (tp.sym.book == nil || !tp.sym.book.valid): // none yet, or lost since: the gap is the feed's next snapshot's to mend
		return false
	}
	if since.Epoch != "" && since.Epoch != tp.sym.epochs.current {
		return false
	}
	return tp.recoverable(since.Seq)
}

// reset empties the topic for a new epoch: no last message, history or
// hole, no message held in a rate class, and no seq sent to any
// subscription, so the new run's seqs, from wherever they start, all go
// out. The caller holds shard.mu.
func (tp *topic) reset() {
	tp.lastSeq, tp.holePrev = 0, 0
	tp.kept.reset()
	tp.keptChanged()
	for k := range tp.classes {
		cl := &tp.classes[k]
		cl.clearHeld()
		for _, r := range cl.subs {
			r.key.sub.sent = 0
		}
	}
}

// catchUp queues what a new subscription needs before live messages. With
// recover, the messages after since (recover); else with history > 0, the
// last history messages from the ring, oldest first; else the snapshot,
// if the topic has one. Catch-up messages carry TS 0: their age is not
// delivery latency. It returns the messages recovered. The caller holds
// shard.mu.
func (tp *topic) catchUp(t *tally, sub *subscription, since uint64, recover bool, history int) (recovered int) {
	sub.sent = tp.lastSeq
	snap := tp.kept.newest()
	switch {
	case recover:
		return tp.recover(t, sub, since)
	case tp.stream == Book || tp.stream == Status: // the snapshot is the state
		tp.sendSnapshot(t, sub)
	case snap == nil:
	case history > 0:
		a, b := tp.kept.ordered()
		a, b = last(a, b, history)
		tp.sendAll(t, sub, a, b)
	default:
		tp.sendSnapshot(t, sub)
	}
	return 0
}

// sendSnapshot queues tp's snapshot, if it has one, to sub: its newest
// record's bytes, or a book's or status's state (bookState.snapshot,
// statusState.snapshot).
func (tp *topic) sendSnapshot(t *tally, sub *subscription) {
	var data []byte
	switch {
	case tp.stream == Book:
		data = tp.sym.book.snapshot(tp)
	case tp.stream == Status:
		data = tp.sym.status.snapshot(tp)
	case tp.kept.newest() != nil:
		data = tp.bytesOf(tp.kept.newest())
	}
	if data != nil {
		t.queue(sub.c, sub.catchUpKey(), Message{Data: data})
	}
}

// sendAll queues the records of parts, in order, to sub (by its
// catch-up key: its live key, or a book's barrier).
func (tp *topic) sendAll(t *tally, sub *subscription, parts ...[]record) {
	for _, part := range parts {
		for i := range part {
			t.queue(sub.c, sub.catchUpKey(), Message{Data: tp.bytesOf(&part[i]), N: int64(part[i].n)})
		}
	}
}

// recover queues the messages after since from history: each of them for
// a subscription that takes every message or reads a book (an update
// does not stand for the ones before it), or the latest standing for all
// of them (N) for a rate-limited one. It returns how many it covered.
func (tp *topic) recover(t *tally, sub *subscription, since uint64) int {
	if since >= tp.lastSeq {
		return 0
	}
	a, b := tp.kept.ordered()
	a, b = after(a, b, since)
	each := sub.class == 0 || tp.stream == Book
	if each {
		tp.sendAll(t, sub, a, b)
	}
	var n int64
	for _, part := range [2][]record{a, b} {
		for i := range part {
			n += int64(part[i].n)
		}
	}
	if !each {
		t.send(sub, Message{Data: tp.bytesOf(tp.kept.newest()), N: n})
	}
	return int(n)
}

// subscribe adds a new subscription to its class's list.
func (tp *topic) subscribe(sub *subscription) {
	if n := sub.class + 1; n > len(tp.classes) {
		tp.classes = append(tp.classes, make([]classState, n-len(tp.classes))...)
	}
	sub.idx = tp.classes[sub.class].subs.push(&sub.live)
	if sub.class > 0 {
		tp.rated++
	}
}

// unsubscribe removes sub from its class's list. A message the class
// still holds for it is not sent.
func (tp *topic) unsubscribe(sub *subscription) {
	if moved := tp.classes[sub.class].subs.removeAt(sub.idx); moved != nil {
		moved.idx = sub.idx
	}
	if sub.class > 0 {
		tp.rated--
	}
}

// move puts sub in another rate class. A message its old class still
// holds for it is queued first, so the client sees no gap across the
// change.
func (tp *topic) move(t *tally, sub *subscription, class int) {
	old := &tp.classes[sub.class]
	if sub.class > 0 && old.pending.Data != nil {
		old.sendTo(t, sub, old.held(tp), old.pendingSeq, old.count)
	}
	tp.unsubscribe(sub)
	sub.class = class
	sub.sent = tp.lastSeq
	tp.subscribe(sub)
}
