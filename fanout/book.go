package fanout

import (
	"hash/crc32"
	"math"

	"github.com/tickgate/tickgate/feed"
)

// The book stream: each symbol (each tier) keeps its order book, the best
// Config.BookDepth levels a side, built from the feed's book messages: a
// snapshot replaces it, an update changes the levels it names. A
// subscriber gets the book as a snapshot ("book"), encoded when first
// asked for after a change and shared until the next, then every update
// ("book_update") as the effective change it made, encoded once into the
// topic's arena with the checksum of the book after it, kept in the
// history ring for since, and fanned out like a tick. Rate classes and
// lagging queues merge updates per price level (bookspan.go).
//
// The gateway serves only a book it knows to be the feed's. Before the
// epoch's first snapshot there is none. A message the book cannot take
// (an update before any snapshot, one that crosses the book or leaves a
// side deeper than BookDepth) is dropped, counted and logged once per
// symbol and reason; and since the book then no longer follows the feed,
// so is one whose seqs skip: either way the book's subscribers get a gap
// notice (stream "book") naming the seqs lost, and the book waits, its
// updates dropped as no_snapshot, for the feed's next snapshot.

// bookState is a symbol's book in one tier. shard.mu protects it.
type bookState struct {
	bids, asks []feed.Level    // best first, at most depth each
	next       [2][]feed.Level // apply builds the sides here, then swaps them in
	valid      bool            // the book is the feed's: a snapshot came this epoch, nothing was lost since
	seen       uint64          // the epoch's last book seq taken from the feed, applied or dropped
	ts         int64           // the feed time of the last message applied
	checksum   uint32          // feed.Checksum of the book
	// delta is the effective change of the message being published: the
	// levels it changed, as sent. sending is the span of the book message
	// the shard is queueing right now, delta or a rate class's merged one:
	// a lagging client's queue folds it into the span it holds (queue.go).
	delta   bookSpan
	sending *bookSpan
	logged  uint8  // the bad-data reasons logged for the symbol, a bit each
	sum     []byte // the checksum's string, built here (feed.AppendChecksumString)
	// log keeps the bytes of the book topic's messages (booklog.go);
	// snapRef is where the snapshot of the book at seq snapSeq was last
	// encoded in the shard's arena, shared while it is still there.
	log     bookLog
	snapRef liveRef
	snapSeq uint64
}

// bookOf is sym's book, made now with its topic, and counted in the
// memory budget, if the feed has sent it none yet. The caller holds
// shard.mu.
func (sym *symbol) bookOf() *bookState {
	if sym.book == nil {
		sym.book = new(bookState)
		sym.topic(Book)
		s := sym.shard
		s.budget.own(&s.t, bookStateBytes(s.depth))
	}
	return sym.book
}

// reset forgets the book, for a new epoch.
func (bk *bookState) reset() {
	bk.bids, bk.asks = bk.bids[:0], bk.asks[:0]
	bk.valid, bk.seen, bk.checksum, bk.snapSeq = false, 0, 0, 0
}

// apply makes b, which follows on from the book, its next state, and
// leaves in delta the change it made; or reports why the book cannot take
// it, unchanged.
func (bk *bookState) apply(b *feed.Book, depth int) depthDrop {
	d := &bk.delta
	d.reset()
	bids, asks := bk.next[0][:0], bk.next[1][:0]
	switch {
	case b.Snapshot:
		bids, asks = append(bids, b.Bids...), append(asks, b.Asks...)
		d.setBook(b, 1)
	case !bk.valid:
		return dropNoSnapshot
	default:
		bids = applySide(bids, bk.bids, b.Bids, &d.bids, true)
		asks = applySide(asks, bk.asks, b.Asks, &d.asks, false)
		d.seq, d.ts, d.n = b.Seq, b.TS, 1
	}
	bk.next[0], bk.next[1] = bids, asks // keep the arrays grown, whatever happens
	switch {
	case len(bids) > depth || len(asks) > depth:
		return dropBeyondDepth
	case len(bids) > 0 && len(asks) > 0 && bids[0].Price >= asks[0].Price:
		return dropCrossed
	}
	bk.bids, bk.next[0] = bids, bk.bids
	bk.asks, bk.next[1] = asks, bk.asks
	bk.valid, bk.ts = true, b.TS
	bk.sum = feed.AppendChecksumString(bk.sum[:0], bk.bids, bk.asks)
	bk.checksum = crc32.ChecksumIEEE(bk.sum) // feed.Checksum, without its pool
	d.checksum = bk.checksum
	return dropNone
}

// applySide appends to dst the side cur changed by ch (both best first),
// and to delta the changes that did something, each marked inserted if
// it added a level cur did not have. Removing an absent level and setting
// a level to the size it has are no change.
func applySide(dst, cur, ch []feed.Level, delta *bookSide, bid bool) []feed.Level {
	i, j := 0, 0
	for i < len(cur) || j < len(ch) {
		switch {
		case j == len(ch) || (i < len(cur) && better(bid, cur[i].Price, ch[j].Price)):
			dst = append(dst, cur[i])
			i++
		case i == len(cur) || better(bid, ch[j].Price, cur[i].Price):
			if ch[j].Size > 0 {
				dst = append(dst, ch[j])
				delta.push(ch[j], true)
			}
			j++
		default:
			switch {
			case ch[j].Size == 0:
				delta.push(ch[j], false)
			case ch[j].Size != cur[i].Size:
				dst = append(dst, ch[j])
				delta.push(ch[j], false)
			default:
				dst = append(dst, cur[i])
			}
			i++
			j++
		}
	}
	return dst
}

// publishBook makes b, standing for n book messages, sym's newest: applied
// to its book, encoded once, recorded in the book topic's history and
// sent like a tick. A message of another epoch resets sym first; one
// whose seqs do not follow the book's last is a gap, as is a message the
// book cannot take (bookState.apply), which is dropped. It reports
// whether b was published. The caller holds shard.mu.
func (s *shard) publishBook(sym *symbol, b *feed.Book, n int64, now int64) bool {
	bk := sym.bookOf()
	prev := b.Seq - min(uint64(n), b.Seq)
	switch ep := epochOrDefault(b.Epoch); {
	case ep != sym.epochs.current:
		s.reset(sym, ep)
	case bk.valid && prev > bk.seen:
		s.bookGap(sym, bk.seen+1, prev)
	}
	bk.seen = b.Seq
	if why := bk.apply(b, s.depth); why != dropNone {
		s.badBook(sym, why, b.Seq)
		return false
	}
	tp := sym.topics[Book]
	d := &bk.delta
	d.n, d.from = n, prev
	rec := record{seq: b.Seq, prev: prev, n: int32(min(n, math.MaxInt32)), ts: b.TS}
	data, ref, kept := s.encodeBookMsg(tp, d)
	tp.note(rec)
	if kept {
		rec.live = ref
		tp.kept.put(rec)
		tp.keptChanged()
	}
	bk.sending = d
	s.send(tp, Message{Data: data, TS: b.TS + sym.lag, N: int64(rec.n)}, b.Seq, now)
	return true
}

// encodeBookMsg encodes d, the book message being published, once: into
// the book's log when its topic keeps history (the budget permitting:
// the ring grows, or a new block is made, as it fits), reporting where,
// or else into the shard's arena, not kept. The caller holds shard.mu.
func (s *shard) encodeBookMsg(tp *topic, d *bookSpan) (data []byte, ref liveRef, kept bool) {
	sym, room := tp.sym, maxBookJSON(d.levels())
	if tp.kept.full() {
		s.budget.grow(&s.t, tp)
	}
	if len(tp.kept.buf) > 0 {
		lg := &sym.book.log
		if buf, ok := lg.start(s, tp, room); ok {
			data, ref = lg.cut(d.appendJSON(buf, sym.name, sym.mark))
			return data, ref, true
		}
	}
	a := &s.arena
	data, _ = a.cut(d.appendJSON(a.startFor(room), sym.name, sym.mark))
	return data, liveRef{}, false
}

// badBook drops the book message seq, which the book cannot take for
// reason why: counted, logged once per symbol and reason, and if the book
// was the feed's until now, a gap from here until the next snapshot.
func (s *shard) badBook(sym *symbol, why depthDrop, seq uint64) {
	s.t.depthDrops[depthBook][why]++
	if bit := uint8(1) << why; sym.book.logged&bit == 0 {
		sym.book.logged |= bit
		s.t.badLog = append(s.t.badLog, badBook{sym.name, why, seq})
	}
	if sym.book.valid {
		s.bookGap(sym, seq, seq)
	}
}

// bookGap tells sym's book subscribers that the book messages from..to
// are lost, and invalidates the book until the feed's next snapshot. What
// the rate classes hold goes first, so the notice follows every update
// the book took. The caller holds shard.mu.
func (s *shard) bookGap(sym *symbol, from, to uint64) {
	sym.book.valid = false
	tp := sym.topics[Book]
	if tp == nil { // no subscriber ever: nobody to tell
		return
	}
	for k := 1; tp.rated > 0 && k < len(tp.classes); k++ {
		if cl := &tp.classes[k]; cl.pending.Data != nil {
			cl.send(&s.t, cl.held(tp), cl.pendingSeq, cl.count)
			cl.clearHeld()
		}
	}
	if tp.classes != nil {
		s.notify(tp, tp.encodeGap(from, to))
	}
}

// encodeSpan is sp's wire form for tp's symbol, cut from the shard's
// arena: a rate class's merged update, sent once and never kept.
func (tp *topic) encodeSpan(sp *bookSpan) []byte {
	a := &tp.sym.shard.arena
	data, _ := a.cut(sp.appendJSON(a.startFor(maxBookJSON(sp.levels())), tp.sym.name, tp.sym.mark))
	return data
}

// snapshot is the book as a snapshot message, encoded into the shard's
// arena at the first ask after a change and shared while its bytes are
// still there; nil while the book is not the feed's, or bk is nil (no
// book message yet). tp is the book's topic. The caller holds shard.mu.
func (bk *bookState) snapshot(tp *topic) []byte {
	if bk == nil || !bk.valid {
		return nil
	}
	a := &tp.sym.shard.arena
	if bk.snapSeq == tp.lastSeq {
		if data, ok := a.resolve(bk.snapRef); ok {
			return data
		}
	}
	b := feed.Book{Symbol: tp.sym.name, Seq: tp.lastSeq, TS: bk.ts, Snapshot: true, Bids: bk.bids, Asks: bk.asks}
	dst := b.AppendJSON(a.startFor(maxBookJSON(len(bk.bids)+len(bk.asks))), bk.checksum)
	var data []byte
	data, bk.snapRef = a.cut(append(append(dst[:len(dst)-1], tp.sym.mark...), '}'))
	bk.snapSeq = tp.lastSeq
	return data
}
