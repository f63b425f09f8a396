package fanout

import (
	"strconv"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// Bars are computed in one place: by the shard that owns the symbol, from
// the ticks it publishes (shard.publish), under the lock it already holds.
// A bar's bucket comes from the tick's feed timestamp, so every gateway of
// a fleet computes the same bars from the same ticks, and a replay with
// recorded timestamps the same bars as the live run.
//
// A bar is final when a tick of a later bucket arrives, or when the feed
// clock passes the bucket's end plus Config.BarGrace. The feed clock is the
// newest tick timestamp the shard has seen, advanced by the wall time
// since it arrived: for a live feed the wall clock less the feed's
// latency; for a replay with recorded timestamps, the recording's own
// clock. A tick of a bucket that is already final is late: counted, not
// applied. An interval without ticks has no bar.

// bar is one OHLCV aggregate: the bucket start t (Unix ns), the open,
// high, low and close price, the summed trade size v and the trade count n.
type bar struct {
	t          int64
	o, h, l, c float64
	v, n       int64
}

// barBuilder is the bar forming for one (symbol, bar stream).
type barBuilder struct {
	bar       bar
	open      bool  // bar is forming
	due       int64 // feed-clock time at which the forming bar closes
	closedEnd int64 // end of the last final bar's bucket; 0 before the first
}

// add applies t, standing for n feed ticks, to the forming bar.
func (b *bar) add(t *feed.Tick, n int64) {
	b.h = max(b.h, t.Price)
	b.l = min(b.l, t.Price)
	b.c = t.Price
	b.v += t.Size
	b.n += n
}

// appendJSON appends the bar's wire form (docs/protocol.md) to dst.
func (b *bar) appendJSON(dst []byte, st Stream, sym string, seq uint64, partial, delayed bool) []byte {
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
	dst = strconv.AppendUint(dst, seq, 10)
	if partial {
		dst = append(dst, `,"partial":true`...)
	}
	if delayed {
		dst = append(dst, `,"delayed":true`...)
	}
	return append(dst, '}')
}

func appendPrice(dst []byte, key string, px float64) []byte {
	return strconv.AppendFloat(append(dst, key...), px, 'f', -1, 64)
}

// aggregate applies t, standing for n feed ticks, to sym's forming bars,
// closing a bar that a tick of a later bucket ends. The caller holds
// shard.mu.
func (s *shard) aggregate(sym *symbol, t *feed.Tick, n int64, now int64) {
	for st := Bars1s; st < numStreams; st++ {
		b := &sym.bars[st]
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
			b.bar = bar{t: start, o: t.Price, h: t.Price, l: t.Price, c: t.Price, v: t.Size, n: n}
			b.open = true
			b.due = start + iv + s.barGrace
			if sym.isDelayed {
				b.due += s.delay
			}
			if s.closeDue == 0 || b.due < s.closeDue {
				s.closeDue = b.due
			}
		}
		s.progress(sym.topics[st], now)
	}
}

// closeBar makes sym's forming bar of stream st final: encoded once,
// recorded for snapshot and history, and sent like a tick. The caller
// holds shard.mu.
func (s *shard) closeBar(sym *symbol, st Stream, now int64) {
	b := &sym.bars[st]
	tp := sym.topics[st]
	seq := tp.lastSeq + 1
	data := tp.cut(b.bar.appendJSON(tp.buf(), st, sym.name, seq, false, sym.isDelayed))
	s.send(tp, tp.record(data, seq, 1, 0), seq, now)
	b.open = false
	b.closedEnd = b.bar.t + int64(st.Interval())
	s.t.bars[st]++
}

// closeBars closes every forming bar whose time is up by the feed clock at
// now, and reports the wall time at which the next one is (0 for none).
// The caller holds shard.mu.
func (s *shard) closeBars(now int64) (next int64) {
	if s.closeDue == 0 || s.feedClock(now) < s.closeDue {
		return s.wallOf(s.closeDue)
	}
	clock := s.feedClock(now)
	s.closeDue = 0
	for _, sym := range s.syms {
		for _, tier := range [2]*symbol{sym, sym.delayed} {
			if tier == nil {
				continue
			}
			for st := Bars1s; st < numStreams; st++ {
				b := &tier.bars[st]
				switch {
				case !b.open:
				case b.due <= clock:
					s.closeBar(tier, st, now)
				case s.closeDue == 0 || b.due < s.closeDue:
					s.closeDue = b.due
				}
			}
		}
	}
	return s.wallOf(s.closeDue)
}

// feedClock is the feed's time at wall time now: the newest tick
// timestamp seen, plus the wall time since it came.
func (s *shard) feedClock(now int64) int64 { return s.feedTS + now - s.feedAt }

// wallOf is the wall time at which the feed clock reads at; 0 for 0.
func (s *shard) wallOf(at int64) int64 {
	if at == 0 {
		return 0
	}
	return at - s.feedTS + s.feedAt
}

// progressPeriod is how often a forming bar's progress is sent at most.
const progressPeriod = int64(time.Second)

// progress sends the forming bar of tp to the subscriptions that asked for
// progress updates (partialClass), at most once per progressPeriod slot:
// at once if none went this slot, else when the slot ends, encoded then
// from the bar as it is. The caller holds shard.mu.
func (s *shard) progress(tp *topic, now int64) {
	if tp.rated == 0 {
		return // no progress subscription, nor any other rated one
	}
	k := s.partialClass()
	cl := &tp.classes[k]
	if len(cl.subs) == 0 || cl.dirty {
		return
	}
	slot := s.classes[k-1].slot(now)
	if cl.slot < slot {
		cl.slot = slot
		s.sendProgress(tp)
		return
	}
	s.holdUntilSlotEnd(tp, k, slot)
}

// sendProgress sends tp's forming bar, if any, as a partial bar carrying
// the seq it will have when final. It is encoded once for all its
// subscribers, outside the arena: progress updates are never kept.
func (s *shard) sendProgress(tp *topic) {
	b := &tp.sym.bars[tp.stream]
	if !b.open {
		return
	}
	data := b.bar.appendJSON(make([]byte, 0, maxMsgBytes), tp.stream, tp.sym.name, tp.lastSeq+1, true, tp.sym.isDelayed)
	for _, r := range tp.classes[s.partialClass()].subs {
		s.t.queue(r.c, r.sub, Message{Data: data})
	}
}
