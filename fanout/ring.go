package fanout

import (
	"math"
	"unsafe"

	"github.com/tickgate/tickgate/feed"
)

// record is one kept message in the form it was made from rather than its
// bytes: a tick's fields or a final bar's, its seq, the prev it joins
// (topic.record) and the feed ticks it stands for. Every record is
// recordBytes, whatever the message, so what a topic keeps is exactly what
// the memory budget counts (budget.go). Its wire bytes are made again
// (topic.bytesOf) when a catch-up needs them after its live bytes have
// left the shard's arena; encoding is deterministic, so they are the same
// bytes.
type record struct {
	seq, prev uint64
	n         int32      // the messages it stands for (a count past MaxInt32 is kept as MaxInt32)
	synthetic bool       // made by the simulator's backfill (feed.Tick.Synthetic), a tick's or a bar's
	ts        int64      // a tick's feed ts; a bar's bucket start
	px        [4]float64 // a tick's price, bid and ask; a bar's open, high, low and close
	size      int64      // a tick's size; a bar's volume
	trades    int64      // a bar's trade count
	live      liveRef    // where its bytes last were in the shard's arena
}

// recordBytes is what one kept message costs.
const recordBytes = int64(unsafe.Sizeof(record{}))

// tickRecord is t, standing for n feed ticks after prev, as a record.
func tickRecord(t *feed.Tick, prev uint64, n int64) record {
	return record{seq: t.Seq, prev: prev, n: int32(min(n, math.MaxInt32)), synthetic: t.Synthetic, ts: t.TS, px: [4]float64{t.Price, t.Bid, t.Ask}, size: t.Size}
}

// tick is the feed tick r was made from, named sym.
func (r *record) tick(sym string) feed.Tick {
	return feed.Tick{Symbol: sym, Seq: r.seq, Price: r.px[0], Size: r.size, Bid: r.px[1], Ask: r.px[2], TS: r.ts, Synthetic: r.synthetic}
}

// barRecord is b, the final bar seq following prev, as a record.
func barRecord(b *bar, seq, prev uint64) record {
	return record{seq: seq, prev: prev, n: 1, synthetic: b.synthetic, ts: b.t, px: [4]float64{b.o, b.h, b.l, b.c}, size: b.v, trades: b.n}
}

// bar is the final bar r was made from.
func (r *record) bar() bar {
	return bar{t: r.ts, o: r.px[0], h: r.px[1], l: r.px[2], c: r.px[3], v: r.size, n: r.trades, synthetic: r.synthetic}
}

// ring is a bounded FIFO, oldest first from head: a topic's kept records
// (ring[record]) or a delay-line lane's held ticks (ring[heldTick]). Its
// capacity, len(buf), is set by its owner through the memory budget
// (budget.go); once full, a put overwrites the oldest.
type ring[T any] struct {
	buf  []T
	head int // the oldest element
	n    int // elements held
}

// full reports whether a put would overwrite the oldest element.
func (r *ring[T]) full() bool { return r.n == len(r.buf) }

// put adds v as the newest element, overwriting the oldest if the ring is
// full. A ring of capacity 0 keeps nothing.
func (r *ring[T]) put(v T) {
	switch {
	case len(r.buf) == 0:
	case r.n < len(r.buf):
		r.buf[(r.head+r.n)%len(r.buf)] = v
		r.n++
	default:
		r.buf[r.head] = v
		r.head = (r.head + 1) % len(r.buf)
	}
}

// oldest is the oldest element, nil if none.
func (r *ring[T]) oldest() *T {
	if r.n == 0 {
		return nil
	}
	return &r.buf[r.head]
}

// at is the i-th oldest element (0 is the oldest); i < n.
func (r *ring[T]) at(i int) *T { return &r.buf[(r.head+i)%len(r.buf)] }

// newest is the newest element, nil if none.
func (r *ring[T]) newest() *T {
	if r.n == 0 {
		return nil
	}
	return &r.buf[(r.head+r.n-1)%len(r.buf)]
}

// pop drops the oldest element, if any.
func (r *ring[T]) pop() {
	if r.n == 0 {
		return
	}
	var zero T
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

// resize gives the ring capacity c, keeping its newest elements that fit,
// and returns how many it dropped.
func (r *ring[T]) resize(c int) (dropped int) {
	a, b := r.ordered()
	dropped = max(r.n-c, 0)
	var buf []T
	if c > 0 {
		buf = make([]T, c)
	}
	n := copy(buf, a[min(dropped, len(a)):])
	n += copy(buf[n:], b[max(dropped-len(a), 0):])
	r.buf, r.head, r.n = buf, 0, n
	return dropped
}

// reset empties the ring, keeping its capacity.
func (r *ring[T]) reset() {
	clear(r.buf)
	r.head, r.n = 0, 0
}

// ordered returns the elements as two halves, oldest first.
func (r *ring[T]) ordered() (a, b []T) {
	if end := r.head + r.n; end <= len(r.buf) {
		return r.buf[r.head:end], nil
	}
	return r.buf[r.head:], r.buf[:r.head+r.n-len(r.buf)]
}

// after returns the records of a and b (two halves, oldest first) with a
// seq above seq, as two halves.
func after(a, b []record, seq uint64) ([]record, []record) {
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

// last returns the newest n of a and b (two halves, oldest first; all, if
// they hold fewer), as two halves.
func last(a, b []record, n int) ([]record, []record) {
	if skip := len(a) + len(b) - n; skip > 0 {
		if skip >= len(a) {
			return nil, b[skip-len(a):]
		}
		a = a[skip:]
	}
	return a, b
}
