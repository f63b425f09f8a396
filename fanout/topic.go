package fanout

import "github.com/tickgate/tickgate/feed"

// topic is what the engine fans out: one stream of one symbol in one tier
// (realtime or delayed). It holds the stream's subscriptions, one list per
// rate class, its last message, which serves as the snapshot, and its
// history ring. Every delivery mechanism (encode once, rate classes,
// conflation, recovery, the delayed tier) works per topic.
type topic struct {
	sym    *symbol
	stream Stream

	// arena is written only under shard.mu: by the shard goroutine, and by
	// a subscribe that encodes a book's snapshot. Messages are cut from
	// it and handed out as immutable slices; a block is never reused, the
	// garbage collector frees it once no queue or ring holds a slice of
	// it. It is the topic's own, so the history ring pins only this
	// topic's blocks, never a busy neighbour's.
	arena []byte
	mark  int // where the message being encoded starts in arena

	// shard.mu
	lastSeq uint64
	lastMsg Message // the last message; its bytes serve as the snapshot
	history ring
	// holePrev is the newest hole in the history: the prev (ringEntry) of
	// the message that followed it. No since below it is recoverable.
	holePrev uint64
	// classes[0] is every message; [k] is the shard's rate class k-1 (a
	// configured rate in one phase, rate.go). It is made at the first
	// subscription, so a topic nobody takes costs none of it. rated counts
	// the subscriptions in classes above 0.
	classes []classState
	rated   int
	// progress is a bar topic's progress updates (progress.go).
	progress progressSubs
}

// buf returns the arena, with room for one message, to append a message
// to; cut then takes it out. Each message starts on an 8-byte boundary so
// a reader of one message never shares a word with the shard writing the
// next. Blocks start small and double up to arenaChunk, so a quiet topic
// pins little memory.
func (tp *topic) buf() []byte { return tp.bufFor(maxMsgBytes) }

// bufFor is buf for a message of up to room bytes (a book's).
func (tp *topic) bufFor(room int) []byte {
	start := (len(tp.arena) + 7) &^ 7
	if start+room > cap(tp.arena) {
		size := max(min(max(2*cap(tp.arena), minArenaChunk), arenaChunk), room)
		tp.arena = make([]byte, 0, size)
		start = 0
	}
	tp.mark = start
	return tp.arena[:start]
}

// cut takes the message appended to buf's slice out of the arena, capped
// at its own length so no append through it can reach a neighbour.
func (tp *topic) cut(b []byte) []byte {
	tp.arena = b
	return b[tp.mark:len(b):len(b)]
}

const (
	minArenaChunk = 2 << 10
	arenaChunk    = 32 << 10 // the largest block, reached after a few blocks
	maxMsgBytes   = 384      // headroom buf keeps for one tick or bar, all marks included
)

// encodeTick is t's wire form, cut from the arena, with the tier's mark
// (symbol.mark).
func (tp *topic) encodeTick(t *feed.Tick) []byte {
	b := t.AppendJSON(tp.buf())
	b = append(append(b[:len(b)-1], tp.sym.mark...), '}')
	return tp.cut(b)
}

// record makes data, standing for n messages up to seq, the topic's last
// message and puts it in the history ring. prev is the seq of the message
// that must come right before it for the two to join without a hole: a
// tick's seq less n, a bar's previous bar. A prev past the last message
// is a hole, which recovery will not cross. The caller holds shard.mu.
func (tp *topic) record(data []byte, seq, prev uint64, n int64, ts int64) Message {
	m := Message{Data: data, TS: ts, N: n}
	if prev > tp.lastSeq {
		tp.holePrev = prev
	}
	tp.lastSeq = seq
	tp.lastMsg = Message{Data: data}
	tp.history.put(seq, prev, m)
	return m
}

// recoverable reports whether a subscription whose client last saw seq
// since can be brought up to date from history alone: since is the last
// message, or the ring still reaches back to since and has no hole after
// it. A since beyond the last is not: the seqs were reset (a restarted
// feed) or this gateway lags the one the client came from, and a snapshot
// says so.
func (tp *topic) recoverable(since uint64) bool {
	switch {
	case since == tp.lastSeq:
		return true
	case since > tp.lastSeq, since < tp.holePrev:
		return false
	}
	return tp.history.holdsAfter(since)
}

// recoverableFrom is recoverable for a Position: never from another epoch
// than the topic's current one (a legacy position, Epoch "", is taken as
// the current one).
func (tp *topic) recoverableFrom(since Position) bool {
	switch {
	case tp.stream == Status: // a state, not a stream: always sent whole
		return false
	case tp.stream == Book && !tp.sym.book.valid: // lost since: the gap is the feed's next snapshot's to mend
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
	tp.lastSeq, tp.lastMsg, tp.holePrev = 0, Message{}, 0
	tp.history.reset()
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
	switch {
	case recover:
		return tp.recover(t, sub, since)
	case history > 0:
		a, b := tp.history.last(history)
		for _, part := range [2][]ringEntry{a, b} {
			for _, e := range part {
				t.send(sub, Message{Data: e.data, N: e.n})
			}
		}
	default:
		tp.sendSnapshot(t, sub)
	}
	return 0
}

// sendSnapshot queues tp's snapshot, if it has one, to sub: the last
// message, or a book's state, encoded at the first ask after a change
// and shared until the next.
func (tp *topic) sendSnapshot(t *tally, sub *subscription) {
	if tp.lastMsg.Data == nil && tp.stream == Book {
		tp.lastMsg.Data = tp.encodeBook()
	}
	if tp.lastMsg.Data != nil {
		t.queue(sub.c, sub.catchUpKey(), Message{Data: tp.lastMsg.Data})
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
	a, b := tp.history.after(since)
	each := sub.class == 0 || tp.stream == Book
	var n int64
	for _, part := range [2][]ringEntry{a, b} {
		for _, e := range part {
			n += e.n
			if each {
				t.queue(sub.c, sub.catchUpKey(), Message{Data: e.data, N: e.n})
			}
		}
	}
	if !each {
		t.send(sub, Message{Data: tp.lastMsg.Data, N: n})
	}
	return int(n)
}

// subscribe adds a new subscription to its class's list.
func (tp *topic) subscribe(sub *subscription) {
	if tp.classes == nil {
		tp.classes = make([]classState, 1+len(tp.sym.shard.rates.classes))
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

// ring is a topic's last messages, oldest first from next once full. Its
// entries share the arena bytes the live messages were queued with. It
// grows as messages come, so a quiet topic's ring costs little.
type ring struct {
	buf  []ringEntry // grows to size, then wraps
	size int
	next int // the entry the next put overwrites, once full
}

type ringEntry struct {
	seq  uint64
	prev uint64 // the seq it joins without a hole (topic.record)
	data []byte
	n    int64 // messages the entry stands for (delay-line merges)
}

func newRing(size int) ring { return ring{size: size} }

// reset empties the ring, keeping its array for the new run.
func (r *ring) reset() {
	clear(r.buf)
	r.buf, r.next = r.buf[:0], 0
}

func (r *ring) put(seq, prev uint64, m Message) {
	switch {
	case r.size == 0:
	case len(r.buf) < r.size:
		if len(r.buf) == cap(r.buf) {
			r.buf = append(make([]ringEntry, 0, min(max(2*cap(r.buf), 16), r.size)), r.buf...)
		}
		r.buf = append(r.buf, ringEntry{seq, prev, m.Data, m.count()})
	default:
		r.buf[r.next] = ringEntry{seq, prev, m.Data, m.count()}
		r.next = (r.next + 1) % len(r.buf)
	}
}

// ordered returns the two halves of the ring, oldest entry first.
func (r *ring) ordered() (a, b []ringEntry) {
	return r.buf[r.next:], r.buf[:r.next]
}

// holdsAfter reports whether the ring reaches back to seq: its oldest
// entry joins seq or something older. Holes after it are the topic's to
// judge (topic.holePrev).
func (r *ring) holdsAfter(seq uint64) bool {
	a, _ := r.ordered() // a is empty only when the ring is
	return len(a) > 0 && a[0].prev <= seq
}

// after returns the entries with a seq above seq, oldest first, as the two
// halves of the ring.
func (r *ring) after(seq uint64) (a, b []ringEntry) {
	a, b = r.ordered()
	for len(a) > 0 && a[0].seq <= seq {
		a = a[1:]
	}
	if len(a) > 0 {
		return a, b
	}
	for len(b) > 0 && b[0].seq <= seq {
		b = b[1:]
	}
	return nil, b
}

// last returns the newest n entries (all, if the ring holds fewer), oldest
// first, as the two halves of the ring.
func (r *ring) last(n int) (a, b []ringEntry) {
	a, b = r.ordered()
	if skip := len(a) + len(b) - n; skip > 0 {
		if skip >= len(a) {
			return nil, b[skip-len(a):]
		}
		a = a[skip:]
	}
	return a, b
}
