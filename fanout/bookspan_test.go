package fanout

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/booktest"
	"github.com/tickgate/tickgate/internal/depthtest"
)

// applySpan applies sp to a client's copy, as a client applies the
// message sp encodes to; it fails on a removal of a level the copy lacks.
func applySpan(tb testing.TB, c *depthtest.Book, sp *bookSpan) {
	tb.Helper()
	if sp.snapshot {
		c.Bids, c.Asks = slices.Clone(sp.bids.levels), slices.Clone(sp.asks.levels)
		return
	}
	var err error
	if c.Bids, err = booktest.ApplySide(c.Bids, sp.bids.levels, true); err == nil {
		c.Asks, err = booktest.ApplySide(c.Asks, sp.asks.levels, false)
	}
	if err != nil {
		tb.Fatalf("merged update seq %d: %v", sp.seq, err)
	}
}

// TestBookSpanMergeProperty: random book sequences, with a fresh snapshot
// now and then, cut into spans at random and each span merged into one
// update (bookSpan.add, as a rate class or a lagging queue does), always
// leave a client's copy equal to the book built from every message, with
// the merged update's checksum that of the copy, and the span's seq and
// count those of its messages.
func TestBookSpanMergeProperty(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 1))
		depth := 1 + rng.IntN(12)
		g := depthtest.NewGen("AAPL", depth, seed)
		var bk bookState
		var client depthtest.Book
		var span bookSpan
		msgs := 0
		for step := range 400 {
			var b feed.Book
			if step == 0 || rng.IntN(60) == 0 {
				b = g.Snapshot()
			} else {
				b = g.Update()
			}
			if why := bk.apply(&b, depth); why != dropNone {
				t.Fatalf("seed %d seq %d: the engine's book refused a valid message: %v", seed, b.Seq, why)
			}
			d := &bk.delta
			d.from = b.Seq - 1
			if msgs == 0 {
				span.copyFrom(d)
			} else {
				span.add(d)
			}
			msgs++
			if rng.IntN(5) > 0 && step < 399 { // keep merging
				continue
			}
			applySpan(t, &client, &span)
			switch {
			case !client.Equal(g.Bids, g.Asks):
				t.Fatalf("seed %d: after seq %d merged from %d messages, the copy is\n%v | %v\nwant\n%v | %v", seed, b.Seq, msgs, client.Bids, client.Asks, g.Bids, g.Asks)
			case span.checksum != feed.Checksum(client.Bids, client.Asks) || span.checksum != bk.checksum:
				t.Fatalf("seed %d seq %d: merged checksum %d, the copy's %d", seed, b.Seq, span.checksum, feed.Checksum(client.Bids, client.Asks))
			case span.seq != b.Seq || span.n != int64(msgs) || span.from != b.Seq-uint64(msgs):
				t.Fatalf("seed %d: span seq %d n %d from %d, want %d %d %d", seed, span.seq, span.n, span.from, b.Seq, msgs, b.Seq-uint64(msgs))
			}
			msgs = 0
		}
	}
}

// TestBookSpanRules spells the merge rules out on one book: latest size
// per level wins, a level added then removed within the span drops out,
// a level removed then added comes back with its size, one that was in
// the book and is removed stays as a removal, and an update folded into a
// snapshot span applies to it.
func TestBookSpanRules(t *testing.T) {
	t.Parallel()
	lv := func(px float64, sz int64) feed.Level { return feed.Level{Price: px, Size: sz} }
	var bk bookState
	apply := func(b feed.Book) *bookSpan {
		t.Helper()
		if why := bk.apply(&b, 10); why != dropNone {
			t.Fatalf("seq %d refused: %v", b.Seq, why)
		}
		sp := new(bookSpan)
		sp.copyFrom(&bk.delta)
		sp.from = b.Seq - 1
		return sp
	}
	snap := apply(feed.Book{Seq: 1, TS: 1, Snapshot: true,
		Bids: []feed.Level{lv(10, 100), lv(9.9, 200)}, Asks: []feed.Level{lv(10.1, 300)}})
	updates := []*bookSpan{
		apply(feed.Book{Seq: 2, TS: 2, Bids: []feed.Level{lv(10, 150), lv(9.95, 50)}}), // size; 9.95 added
		apply(feed.Book{Seq: 3, TS: 3, Bids: []feed.Level{lv(9.95, 0), lv(9.9, 0)}}),   // 9.95 gone again; 9.9 removed
		apply(feed.Book{Seq: 4, TS: 4, Bids: []feed.Level{lv(10, 175)}, Asks: []feed.Level{lv(10.1, 0), lv(10.2, 10)}}),
		apply(feed.Book{Seq: 5, TS: 5, Asks: []feed.Level{lv(10.1, 20)}}), // removed, then back
	}
	merged := new(bookSpan)
	merged.copyFrom(updates[0])
	for _, u := range updates[1:] {
		merged.add(u)
	}
	got := fmt.Sprint(merged.bids.levels, merged.asks.levels, merged.seq, merged.n, merged.from, merged.snapshot)
	if want := "[{10 175} {9.9 0}] [{10.1 20} {10.2 10}] 5 4 1 false"; got != want {
		t.Errorf("merged update %s, want %s", got, want)
	}
	if merged.checksum != bk.checksum {
		t.Errorf("merged checksum %d, the book's %d", merged.checksum, bk.checksum)
	}
	if b := merged.appendJSON(nil, "AAPL", ""); string(b) != fmt.Sprintf(`{"type":"book_update","sym":"AAPL","seq":5,"checksum":%d,"bids":[[10,175],[9.9,0]],"asks":[[10.1,20],[10.2,10]],"ts":5}`, bk.checksum) {
		t.Errorf("wire form %s", b)
	}
	snap.add(merged) // into a snapshot: applied, so it stays a snapshot
	got = fmt.Sprint(snap.bids.levels, snap.asks.levels, snap.seq, snap.n, snap.snapshot)
	if want := "[{10 175}] [{10.1 20} {10.2 10}] 5 5 true"; got != want {
		t.Errorf("snapshot and updates %s, want %s", got, want)
	}
}
