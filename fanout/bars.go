package fanout

import (
	"strconv"

	"github.com/tickgate/tickgate/feed"
)

// Bars are computed in one place: by the shard that owns the symbol, from
// the ticks it publishes (shard.publish), under the lock it already holds;
// the shard's barClock schedules their closes, and progress.go their
// progress updates.
// A bar's bucket comes from the tick's feed timestamp, so every gateway of
// a fleet computes the same bars from the same ticks, and a replay with
// recorded timestamps the same bars as the live run.
//
// A bar is final when a tick of a later bucket arrives, or when the feed
// clock passes the bucket's end plus Config.BarGrace. A bar's seq is its
// bucket number (t divided by the interval), so two gateways of a fleet
// never give one seq to different bars of an epoch; a final bar carries
// "prev", the seq of the bar before it (0 for none seen), so a client
// tells a quiet bucket, which has no bar, from a missed one. A bucket this
// gateway joined part-way (the symbol's first tick of the epoch here fell
// inside it and did not follow on from a tick seen) is never final: it is
// skipped, neither sent nor kept. The feed clock is the
// newest tick timestamp the shard has seen, advanced by the wall time
// since it arrived: for a live feed the wall clock less the feed's
// latency; for a replay with recorded timestamps, the recording's own
// clock. A tick of a bucket that is already final is late: counted, not
// applied. An interval without ticks has no bar.

// bar is one OHLCV aggregate: the bucket start t (Unix ns), the open,
// high, low and close price, the summed trade size v and the trade count n.
// synthetic says a tick of it was synthetic (feed.Tick.Synthetic).
type bar struct {
	t          int64
	o, h, l, c float64
	v, n       int64
	synthetic  bool
}

// barBuilder is the bar forming for one (symbol, bar stream).
type barBuilder struct {
	bar       bar
	open      bool   // bar is forming
	partial   bool   // the forming bar's bucket was joined part-way: skipped at its close
	started   bool   // a bucket was opened in this epoch
	listed    bool   // on the barClock's forming list of its stream
	due       int64  // feed-clock time at which the forming bar closes
	closedEnd int64  // end of the last final bar's bucket; 0 before the first
	prev      uint64 // seq of the last bucket closed (sent or skipped); 0 before the first
}

// add applies t, standing for n feed ticks, to the forming bar.
func (b *bar) add(t *feed.Tick, n int64) {
	b.h = max(b.h, t.Price)
	b.l = min(b.l, t.Price)
	b.c = t.Price
	b.v += t.Size
	b.n += n
	b.synthetic = b.synthetic || t.Synthetic
}

// seq is the bar's id within its epoch: its bucket number.
func (b *bar) seq(st Stream) uint64 { return uint64(b.t / int64(st.Interval())) }

// appendJSON appends the bar's wire form (docs/protocol.md) to dst: a
// partial bar, or a final one whose previous bar's seq is prev. mark is
// the symbol's tier mark (symbol.mark), "" or `,"delayed":true`.
func (b *bar) appendJSON(dst []byte, st Stream, sym string, prev uint64, partial bool, mark string) []byte {
	dst = append(dst, `{"type":"bar","stream":"`...)
	dst = append(dst, st.String()...)
	dst = append(dst, `","sym":"`...)
	dst = append(dst, sym...) // a valid symbol needs no escaping
	dst = append(dst, `","t":`...)
	dst = strconv.AppendInt(dst, b.t, 10)
	dst = appendPrice(dst, `,"o":`, b.o)
	dst = appendPrice(dst, `,"h":`, b.h)
	dst = appendPrice(dst, `,"l":`, b.l)
	dst = appendPrice(dst, `,"c":`, b.c)
	dst = append(dst, `,"v":`...)
	dst = strconv.AppendInt(dst, b.v, 10)
	dst = append(dst, `,"n":`...)
	dst = strconv.AppendInt(dst, b.n, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, b.seq(st), 10)
	if partial {
		dst = append(dst, `,"partial":true`...)
	} else {
		dst = append(dst, `,"prev":`...)
		dst = strconv.AppendUint(dst, prev, 10)
	}
	if b.synthetic {
		dst = append(dst, `,"synthetic":true`...)
	}
	dst = append(dst, mark...)
	return append(dst, '}')
}

func appendPrice(dst []byte, key string, px float64) []byte {
	return strconv.AppendFloat(append(dst, key...), px, 'f', -1, 64)
}

// aggregate applies t, standing for n feed ticks, to sym's forming bars,
// closing a bar that a tick of a later bucket ends. whole says that t
// follows on from the last tick sym had (or starts its run), so a bucket
// t opens first in the epoch is not joined part-way. The caller holds
// shard.mu.
func (s *shard) aggregate(sym *symbol, t *feed.Tick, n int64, whole bool, now int64) {
	for st := Bars1s; st < barStreams; st++ {
		b := sym.bar(st)
		iv := int64(st.Interval())
		start := t.TS - t.TS%iv
		switch {
		case b.open && start == b.bar.t:
			b.bar.add(t, n)
		case start < b.closedEnd || (b.open && start < b.bar.t):
			s.t.lateTicks[st]++
			continue
		default:
			if b.open {
				s.closeBar(sym, st, now)
			}
			b.bar = bar{t: start, o: t.Price, h: t.Price, l: t.Price, c: t.Price, v: t.Size, n: n, synthetic: t.Synthetic}
			b.open, b.partial, b.started = true, !b.started && !whole, true
			b.due = start + iv + s.clock.grace + sym.lag
			s.clock.forming(sym, st)
		}
		s.progress.offer(&s.t, sym.topics[st], now)
	}
}

// closeBar makes sym's forming bar of stream st final: encoded once,
// recorded for snapshot and history, and sent like a tick; or, if its
// bucket was joined part-way, dropped. The caller holds shard.mu.
func (s *shard) closeBar(sym *symbol, st Stream, now int64) {
	b := sym.bar(st)
	seq, prev := b.bar.seq(st), b.prev
	b.open, b.prev = false, seq
	b.closedEnd = b.bar.t + int64(st.Interval())
	if b.partial {
		return
	}
	tp := sym.topics[st]
	data, ref := tp.encodeBar(&b.bar, prev)
	rec := barRecord(&b.bar, seq, prev)
	rec.live = ref
	s.send(tp, tp.record(data, rec, 0), seq, now)
	s.t.bars[st]++
}

// encodeBar is b's wire form as tp's final bar following prev, cut from
// the shard's arena, and where it is there.
func (tp *topic) encodeBar(b *bar, prev uint64) ([]byte, liveRef) {
	a := &tp.sym.shard.arena
	return a.cut(b.appendJSON(a.start(), tp.stream, tp.sym.name, prev, false, tp.sym.mark))
}

// barClock is the shard's schedule of bar closes: the feed clock, and
// per bar stream the symbols with a bar forming and the feed-clock time
// at which the first of them closes. A run walks only a stream whose
// close is due, and only its forming bars, so what it costs follows the
// symbols that ticked in a bucket, not the symbols listed. shard.mu
// protects it.
type barClock struct {
	grace int64 // Config.BarGrace in ns
	// feedTS is the newest tick timestamp seen, feedAt the wall time it
	// came.
	feedTS, feedAt int64
	streams        [barStreams - Bars1s]formingBars
}

// formingBars is one bar stream's symbols (either tier) with a bar that
// was forming when listed (barBuilder.listed), and the feed-clock time of
// the first close among them; 0 for none. A bar closed by a tick of a
// later bucket is followed at once by that bucket's, so its symbol stays;
// one let go by a reset or retirement leaves at the next walk (a reset's
// symbol may be listed twice until its bar next closes).
type formingBars struct {
	syms []*symbol
	due  int64
}

// forming notes that sym has a bar of stream st forming, due to close at
// its barBuilder's due.
func (bc *barClock) forming(sym *symbol, st Stream) {
	b, f := sym.bar(st), &bc.streams[st-Bars1s]
	if !b.listed {
		b.listed = true
		f.syms = append(f.syms, sym)
	}
	f.closesAt(b.due)
}

// closesAt makes the stream's walk due when the feed clock reads due, if
// not earlier already.
func (f *formingBars) closesAt(due int64) {
	if f.due == 0 || due < f.due {
		f.due = due
	}
}

// observe advances the feed clock to ts, a tick's timestamp that came at
// wall time now; the feed clock never runs back.
func (bc *barClock) observe(ts, now int64) {
	if bc.feedAt == 0 || ts > bc.at(now) {
		bc.feedTS, bc.feedAt = ts, now
	}
}

// at is the feed's time at wall time now: the newest tick timestamp seen,
// plus the wall time since it came.
func (bc *barClock) at(now int64) int64 { return bc.feedTS + now - bc.feedAt }

// wallOf is the wall time at which the feed clock reads at; 0 for 0.
func (bc *barClock) wallOf(at int64) int64 {
	if at == 0 {
		return 0
	}
	return at - bc.feedTS + bc.feedAt
}

// next is the wall time at which the first forming bar closes.
func (bc *barClock) next() int64 {
	var due int64
	for i := range bc.streams {
		if d := bc.streams[i].due; d != 0 && (due == 0 || d < due) {
			due = d
		}
	}
	return bc.wallOf(due)
}

// run closes every forming bar of the shard, in either tier, whose time is
// up by the feed clock at now, and works out when the next one is: it
// walks each stream whose first close is due.
func (bc *barClock) run(s *shard, now int64) {
	clock := bc.at(now)
	for i := range bc.streams {
		if f := &bc.streams[i]; f.due != 0 && f.due <= clock {
			f.walk(s, Bars1s+Stream(i), clock, now)
		}
	}
}

// walk closes the stream's bars that are due by the feed clock, drops
// from the list those no longer forming, and works out the next close.
func (f *formingBars) walk(s *shard, st Stream, clock, now int64) {
	f.due = 0
	keep := f.syms[:0]
	for _, sym := range f.syms {
		b := sym.bar(st)
		switch {
		case !b.open: // let go by a reset or retirement
			b.listed = false
		case b.due <= clock:
			s.closeBar(sym, st, now)
			b.listed = false
		default:
			keep = append(keep, sym)
			f.closesAt(b.due)
		}
	}
	clear(f.syms[len(keep):])
	f.syms = keep
}
