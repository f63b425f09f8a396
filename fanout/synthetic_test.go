package fanout

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tickgate/tickgate/feed"
)

// TestSyntheticTicksAndBars follows a simulator's backfill into live
// ticks: synthetic ticks go out marked, with no delivery time (their ts is
// not when they were sent), the bars made of them are marked too, and the
// first live tick carries the run on, its seq contiguous and its first
// bucket final, like any other.
func TestSyntheticTicksAndBars(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{}, "AAPL")
	ticks, s1, m1 := newTestClient(f.e), newTestClient(f.e), newTestClient(f.e)
	f.subscribe(ticks, Policy{}, "AAPL")
	f.subscribe(s1, Policy{Stream: Bars1s}, "AAPL")
	f.subscribe(m1, Policy{Stream: Bars1m}, "AAPL")

	now := sec(1090) // the backfill is published at start, long after its ts
	for _, b := range []struct{ ts, px float64 }{{1000.1, 10.1}, {1000.5, 10.5}, {1001.2, 11.2}} {
		f.seqs["AAPL"]++
		tk := testTick("AAPL", f.seqs["AAPL"])
		tk.TS, tk.Price, tk.Size, tk.Synthetic = sec(b.ts), b.px, 100, true
		s := f.e.lookup("AAPL")
		s.shard.deliver([]inTick{{sym: s, tick: tk}}, now)
	}
	f.tick("AAPL", sec(1090.3), 12, 5, sec(1090.3))
	f.tick("AAPL", sec(1141), 13, 5, sec(1141))

	msgs := drainAll(ticks)
	if len(msgs) != 5 {
		t.Fatalf("%d tick messages, want 5", len(msgs))
	}
	for i, m := range msgs {
		synthetic := strings.Contains(string(m.Data), `"synthetic":true`)
		if want := i < 3; synthetic != want || (m.TS == 0) != want {
			t.Errorf("tick %d %s: TS %d; want synthetic %v and TS 0 exactly for synthetic ticks", i, m.Data, m.TS, want)
		}
	}
	for i, tk := range decodeAll(t, msgs) {
		if tk.Seq != uint64(i+1) {
			t.Errorf("tick %d has seq %d: the live ticks carry the run on", i, tk.Seq)
		}
	}
	want := "[bars.1s 1000 o10.1 h10.5 l10.1 c10.5 v200 n2 #1000 synthetic bars.1s 1001 o11.2 h11.2 l11.2 c11.2 v100 n1 #1001 synthetic bars.1s 1090 o12 h12 l12 c12 v5 n1 #1090]"
	if got := fmt.Sprint(f.bars(s1)); got != want {
		t.Errorf("1s bars %s\nwant      %s", got, want)
	}
	want = "[bars.1m 960 o10.1 h11.2 l10.1 c11.2 v300 n3 #16 synthetic bars.1m 1080 o12 h12 l12 c12 v5 n1 #18]"
	if got := fmt.Sprint(f.bars(m1)); got != want {
		t.Errorf("1m bars %s\nwant      %s", got, want)
	}
}

// A kept record keeps the synthetic mark, so a snapshot or catch-up
// encoded again from it (topic.bytesOf) still says the price was made up,
// and the mark costs a kept message nothing.
func TestRecordKeepsSyntheticMark(t *testing.T) {
	t.Parallel()
	tk := feed.Tick{Symbol: "AAPL", Seq: 3, Price: 1, Bid: 1, Ask: 1, TS: 5, Synthetic: true}
	rec := tickRecord(&tk, 2, 1)
	if got := rec.tick("AAPL"); got != tk {
		t.Fatalf("tick from record = %+v, want %+v", got, tk)
	}
	b := bar{t: 60, o: 1, h: 2, l: 1, c: 2, v: 10, n: 3, synthetic: true}
	if got := barRecord(&b, 1, 0); !got.bar().synthetic {
		t.Fatal("bar from record lost its synthetic mark")
	}
	if recordBytes != 96 {
		t.Fatalf("a record is %d bytes, docs and config.yaml say 96", recordBytes)
	}
}
