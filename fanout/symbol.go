package fanout

import "github.com/tickgate/tickgate/feed"

// symbol is one symbol's state inside its shard: its last tick, its history
// ring, its arena and its subscribers, one list per rate class.
type symbol struct {
	name  string
	shard *shard

	// arena is written only by the shard goroutine. Encoded ticks are cut
	// from it and handed out as immutable slices; a block is never reused,
	// the garbage collector frees it once no queue or ring holds a slice
	// of it. It is the symbol's own, so the history ring pins only this
	// symbol's blocks, never a busy neighbour's.
	arena []byte

	// delayed is the symbol's delayed twin (delay.go), nil without a
	// delayed tier; on the twin itself it is nil and isDelayed is set.
	delayed   *symbol
	isDelayed bool

	// shard.mu
	last    feed.Tick
	lastMsg Message // last, encoded; its bytes serve as the snapshot
	history ring
	classes []classState // [0] is every tick; [k] is Config.RateClasses[k-1]
	// held is a delayed twin's part of the delay line, oldest first from
	// heldHead.
	held     []heldTick
	heldHead int
}

// encode appends t's wire form to the arena and returns it as a slice
// capped at its own length, so no append through it can reach a neighbour.
// Each message starts on an 8-byte boundary so a reader of one message
// never shares a word with the shard writing the next. Blocks start small
// and double up to arenaChunk, so a quiet symbol pins little memory.
func (sym *symbol) encode(t *feed.Tick) []byte {
	start := (len(sym.arena) + 7) &^ 7
	if start+maxTickBytes > cap(sym.arena) {
		size := min(max(2*cap(sym.arena), minArenaChunk), arenaChunk)
		sym.arena = make([]byte, 0, size)
		start = 0
	}
	sym.arena = t.AppendJSON(sym.arena[:start])
	if sym.isDelayed {
		sym.arena = append(sym.arena[:len(sym.arena)-1], `,"delayed":true}`...)
	}
	return sym.arena[start:len(sym.arena):len(sym.arena)]
}

const (
	minArenaChunk = 2 << 10
	arenaChunk    = 32 << 10 // the largest block, reached after a few blocks
	maxTickBytes  = 272      // headroom encode keeps for one tick, delayed included
)

// record makes t, standing for n feed ticks, the symbol's last tick: it
// encodes t once and keeps the bytes as the snapshot and in the history
// ring. The caller holds shard.mu.
func (sym *symbol) record(t *feed.Tick, n int64) Message {
	m := Message{Data: sym.encode(t), TS: t.TS, N: n}
	sym.last = *t
	sym.lastMsg = Message{Data: m.Data}
	sym.history.put(t.Seq, m)
	return m
}

// recoverable reports whether a subscription whose client last saw seq
// since can be brought up to date from history alone: since is the last
// tick, or the ring still holds every tick after it. A since beyond the
// last tick is not: the seqs were reset (a restarted feed) or this gateway
// lags the one the client came from, and a snapshot says so.
func (sym *symbol) recoverable(since uint64) bool {
	switch {
	case since == sym.last.Seq:
		return true
	case since > sym.last.Seq:
		return false
	}
	return sym.history.holdsAfter(since)
}

// catchUp queues what a new subscription needs before live ticks. With
// recover, the ticks after since, from history: each of them for every
// tick, or the latest standing for all of them (N) for a rate-limited one.
// Otherwise the snapshot, if the symbol has ticked. Catch-up messages carry
// TS 0: their age is not delivery latency. It returns the ticks recovered.
// The caller holds shard.mu.
func (sym *symbol) catchUp(t *tally, sub *subscription, since uint64, recover bool) (recovered int) {
	sub.sent = sym.last.Seq
	if sym.last.Seq == 0 {
		return 0
	}
	if !recover {
		t.send(sub, Message{Data: sym.lastMsg.Data})
		return 0
	}
	if since >= sym.last.Seq {
		return 0
	}
	a, b := sym.history.after(since)
	var n int64
	for _, part := range [2][]ringEntry{a, b} {
		for _, e := range part {
			n += e.n
			if sub.class == 0 {
				t.send(sub, Message{Data: e.data, N: e.n})
			}
		}
	}
	if sub.class > 0 {
		t.send(sub, Message{Data: sym.lastMsg.Data, N: n})
	}
	return int(n)
}

// subscribe adds a new subscription to its class's list.
func (sym *symbol) subscribe(sub *subscription) {
	sym.classes[sub.class].subs.add(sub)
}

// unsubscribe removes sub from its class's list. A tick the class still
// holds for it is not sent.
func (sym *symbol) unsubscribe(sub *subscription) {
	sym.classes[sub.class].subs.remove(sub)
}

// move puts sub in another rate class. A tick its old class still holds
// for it is queued first, so the client sees no gap across the change.
func (sym *symbol) move(t *tally, sub *subscription, class int) {
	old := &sym.classes[sub.class]
	if sub.class > 0 && old.pending.Data != nil {
		old.sendTo(t, sub, old.pending, old.pendingSeq, old.count)
	}
	sym.unsubscribe(sub)
	sub.class = class
	sub.sent = sym.last.Seq
	sym.subscribe(sub)
}

// ring is a symbol's last ticks, oldest first from next once full. Its
// entries share the arena bytes the live ticks were queued with.
type ring struct {
	buf  []ringEntry // grows to its capacity, then wraps
	next int         // the entry the next put overwrites, once full
}

type ringEntry struct {
	seq  uint64
	data []byte
	n    int64 // feed ticks the entry stands for (delay-line merges)
}

func newRing(size int) ring { return ring{buf: make([]ringEntry, 0, size)} }

func (r *ring) put(seq uint64, m Message) {
	switch {
	case cap(r.buf) == 0:
	case len(r.buf) < cap(r.buf):
		r.buf = append(r.buf, ringEntry{seq, m.Data, m.count()})
	default:
		r.buf[r.next] = ringEntry{seq, m.Data, m.count()}
		r.next = (r.next + 1) % len(r.buf)
	}
}

// ordered returns the two halves of the ring, oldest entry first.
func (r *ring) ordered() (a, b []ringEntry) {
	return r.buf[r.next:], r.buf[:r.next]
}

// holdsAfter reports whether the ring holds every tick after seq: its
// oldest entry is seq+1 or older.
func (r *ring) holdsAfter(seq uint64) bool {
	a, _ := r.ordered() // a is empty only when the ring is
	return len(a) > 0 && a[0].seq <= seq+1
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
