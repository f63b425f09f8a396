package fanout

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/internal/ticktest"
)

// barFixture is an engine that is not running, one shard, and a clock the
// test sets: each tick is delivered at a wall time the test names, and
// clock runs the shard's timer work at a given wall time.
type barFixture struct {
	t    *testing.T
	e    *Engine
	seqs map[string]uint64
}

func newBarFixture(t *testing.T, cfg Config, syms ...string) *barFixture {
	cfg.Shards = 1
	if cfg.BarHistory == 0 {
		cfg.BarHistory = 16
	}
	e, _ := newEngine(t, cfg, syms...)
	return &barFixture{t: t, e: e, seqs: map[string]uint64{}}
}

// sec is a time in seconds as Unix ns.
func sec(s float64) int64 { return int64(s * float64(time.Second)) }

// tick delivers sym's next tick, stamped ts, price px and size sz, at wall
// time now.
func (f *barFixture) tick(sym string, ts int64, px float64, sz int64, now int64) {
	f.seqs[sym]++
	tk := testTick(sym, f.seqs[sym])
	tk.TS, tk.Price, tk.Size = ts, px, sz
	s := f.e.lookup(sym)
	s.shard.deliver([]inTick{{sym: s, tick: tk}}, now)
}

func (f *barFixture) clock(now int64) { f.e.shards[0].flushDue(now) }

func (f *barFixture) subscribe(c *testClient, p Policy, syms ...string) Result {
	f.t.Helper()
	res, err := f.e.Subscribe(c.Client, syms, p, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// bars drains c and decodes every message, as written on the wire, as a
// bar; a message that is not one fails the test.
func (f *barFixture) bars(c *testClient) []string {
	f.t.Helper()
	var out []string
	for _, m := range drainAll(c) {
		wire := m.AppendTo(nil)
		var b ticktest.Bar
		if err := json.Unmarshal(wire, &b); err != nil || b.Type != "bar" {
			f.t.Fatalf("want a bar, got %s (%v)", wire, err)
		}
		if strings.Count(string(wire), `"n":`) != 1 {
			f.t.Fatalf("bar %s: the trade count n must appear once", wire)
		}
		out = append(out, b.String())
	}
	return out
}

// TestBarsAggregate checks OHLCV against a hand-computed fixture: a bar of
// four ticks closed by a tick of a later bucket, a bar of one tick closed
// by the grace timer, an interval without ticks (no bar), a late tick
// inside the grace (applied), one after it (counted, not applied), and the
// 1-minute bar made of all of them.
func TestBarsAggregate(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{}, "AAPL")
	s1, m1 := newTestClient(f.e), newTestClient(f.e)
	f.subscribe(s1, Policy{Stream: Bars1s}, "AAPL")
	f.subscribe(m1, Policy{Stream: Bars1m}, "AAPL")

	// Bucket 1000s: four ticks.
	for _, tk := range []struct {
		ts float64
		px float64
		sz int64
	}{{1000.1, 10, 100}, {1000.4, 12, 50}, {1000.7, 9, 10}, {1000.9, 11, 5}} {
		f.tick("AAPL", sec(tk.ts), tk.px, tk.sz, sec(tk.ts))
	}
	if got := f.bars(s1); len(got) != 0 {
		t.Fatalf("bars before the bucket ended: %v", got)
	}
	// Bucket 1001s: one tick; it closes bucket 1000.
	f.tick("AAPL", sec(1001.5), 11.5, 7, sec(1001.5))
	want := "[bars.1s 1000 o10 h12 l9 c11 v165 n4 #1000]"
	if got := fmt.Sprint(f.bars(s1)); got != want {
		t.Fatalf("closed by a later bucket: %s, want %s", got, want)
	}
	f.clock(sec(1002.2)) // inside the grace: not final yet
	if got := f.bars(s1); len(got) != 0 {
		t.Fatalf("bar final before the grace ended: %v", got)
	}
	f.clock(sec(1002.3))
	want = "[bars.1s 1001 o11.5 h11.5 l11.5 c11.5 v7 n1 #1001]"
	if got := fmt.Sprint(f.bars(s1)); got != want {
		t.Fatalf("closed by the grace timer: %s, want %s", got, want)
	}

	// Bucket 1002s has no tick. Bucket 1003s: a tick, then a late one that
	// comes inside the grace and counts.
	f.tick("AAPL", sec(1003.4), 13, 20, sec(1003.4))
	f.tick("AAPL", sec(1003.9), 15, 1, sec(1004.2))
	f.clock(sec(1004.3))
	want = "[bars.1s 1003 o13 h15 l13 c15 v21 n2 #1003]"
	if got := fmt.Sprint(f.bars(s1)); got != want {
		t.Fatalf("no bar for 1002, and the late tick inside the grace applied: %s, want %s", got, want)
	}
	// A late tick after the grace: counted, not applied, no bar.
	f.tick("AAPL", sec(1003.95), 14, 4, sec(1004.4))
	if got := f.bars(s1); len(got) != 0 {
		t.Fatalf("a tick after the grace made %v", got)
	}
	if got := testutil.ToFloat64(f.e.metrics.lateTicks[Bars1s]); got != 1 {
		t.Fatalf("late 1s ticks = %v, want 1", got)
	}
	f.tick("AAPL", sec(1005.1), 12, 2, sec(1005.1))
	f.clock(sec(1020.3))
	if got, want := fmt.Sprint(f.bars(s1)), "[bars.1s 1005 o12 h12 l12 c12 v2 n1 #1005]"; got != want {
		t.Fatalf("last 1s bar %s, want %s", got, want)
	}
	// The minute [960s, 1020s) holds every tick, the late one included.
	if got, want := fmt.Sprint(f.bars(m1)), "[bars.1m 960 o10 h15 l9 c12 v199 n9 #16]"; got != want {
		t.Fatalf("1m bar %s, want %s", got, want)
	}
	if got := testutil.ToFloat64(f.e.metrics.lateTicks[Bars1m]); got != 0 {
		t.Fatalf("late 1m ticks = %v, want 0", got)
	}
	if got := testutil.ToFloat64(f.e.metrics.bars[Bars1s]); got != 4 {
		t.Fatalf("tickgate_bars_total{stream=bars.1s} = %v, want 4", got)
	}
}

// closeBars closes n one-tick 1s bars of AAPL, bucket start, start+1, ...,
// at wall times one second apart.
func (f *barFixture) closeBars(start float64, n int) {
	for i := range n {
		at := sec(start + float64(i) + 0.5)
		f.tick("AAPL", at, 100+float64(i), 1, at)
	}
	end := start + float64(n) + 0.5
	f.clock(sec(end))
}

// TestBarHistoryThenLive subscribes with history: the last final bars come
// oldest first, and live bars continue their seqs with no gap or repeat;
// since recovers exactly the missed bars.
func TestBarHistoryThenLive(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{BarHistory: 4}, "AAPL")
	f.closeBars(2000, 6) // bars #2000..#2005
	c := newTestClient(f.e)
	f.subscribe(c, Policy{Stream: Bars1s, History: 3}, "AAPL")
	f.closeBars(2006, 2) // #2006, #2007
	var seqs []uint64
	for _, s := range f.bars(c) {
		var seq uint64
		fmt.Sscanf(s[strings.LastIndex(s, "#")+1:], "%d", &seq)
		seqs = append(seqs, seq)
	}
	if got := fmt.Sprint(seqs); got != "[2003 2004 2005 2006 2007]" {
		t.Fatalf("history 3 then live: seqs %s, want [2003 2004 2005 2006 2007]", got)
	}

	r := newTestClient(f.e)
	res := f.subscribe(r, Policy{Stream: Bars1s, Since: legacySince(map[string]uint64{"AAPL": 2005})}, "AAPL")
	if fmt.Sprint(res.Recovered) != "[AAPL]" {
		t.Fatalf("since #2005 with a ring of #2004..#2007: %+v", res)
	}
	if got := f.bars(r); len(got) != 2 || !strings.HasSuffix(got[0], "#2006") || !strings.HasSuffix(got[1], "#2007") {
		t.Fatalf("recovered %v, want #2006 and #2007", got)
	}
	old := newTestClient(f.e)
	res = f.subscribe(old, Policy{Stream: Bars1s, Since: legacySince(map[string]uint64{"AAPL": 2001})}, "AAPL")
	if got := f.bars(old); fmt.Sprint(res.Snapshot) != "[AAPL]" || len(got) != 1 || !strings.HasSuffix(got[0], "#2007") {
		t.Fatalf("since #2001 behind the ring: %+v then %v, want a snapshot of #2007", res, got)
	}
	if _, err := f.e.Subscribe(newTestClient(f.e).Client, []string{"AAPL"}, Policy{Stream: Bars1s, History: 5}, nil); err == nil {
		t.Fatal("history 5 over a ring of 4 was accepted")
	}
}

// TestBarProgress checks partial bars: at most one a second, the last one
// of a slot sent when it ends with the bar as it then is, the seq the bar
// will have, and no partial of a bar after its final.
func TestBarProgress(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{}, "AAPL")
	c := newTestClient(f.e)
	f.subscribe(c, Policy{Stream: Bars1m, Partial: true}, "AAPL")
	f.tick("AAPL", sec(3000.1), 10, 1, sec(3000.1)) // leading edge: at once
	f.tick("AAPL", sec(3000.5), 11, 1, sec(3000.5)) // held for the slot's end
	f.tick("AAPL", sec(3000.8), 9, 1, sec(3000.8))
	if got := fmt.Sprint(f.bars(c)); got != "[bars.1m 3000 o10 h10 l10 c10 v1 n1 #50 partial]" {
		t.Fatalf("first partial %s", got)
	}
	f.clock(sec(3001))
	if got := fmt.Sprint(f.bars(c)); got != "[bars.1m 3000 o10 h11 l9 c9 v3 n3 #50 partial]" {
		t.Fatalf("partial at the slot's end %s", got)
	}
	f.tick("AAPL", sec(3059.9), 12, 1, sec(3059.9)) // a new slot: at once
	f.tick("AAPL", sec(3059.95), 13, 1, sec(3059.95))
	f.tick("AAPL", sec(3060.2), 14, 1, sec(3060.2)) // closes the bar, opens the next
	f.clock(sec(3061))
	want := "[bars.1m 3000 o10 h12 l9 c12 v4 n4 #50 partial bars.1m 3000 o10 h13 l9 c13 v5 n5 #50 bars.1m 3060 o14 h14 l14 c14 v1 n1 #51 partial]"
	if got := fmt.Sprint(f.bars(c)); got != want {
		t.Fatalf("around the close:\n got %s\nwant %s", got, want)
	}
	// Without partial, only final bars.
	f.subscribe(c, Policy{Stream: Bars1m}, "AAPL")
	f.tick("AAPL", sec(3062.5), 15, 1, sec(3062.5))
	f.clock(sec(3130))
	if got := fmt.Sprint(f.bars(c)); got != "[bars.1m 3060 o14 h15 l14 c15 v2 n2 #51]" {
		t.Fatalf("after dropping partial: %s", got)
	}
}

// TestBarsMaxRateSpan closes bars faster than a max_rate subscription
// takes them (a fast replay): the held bars are conflated, and the one
// sent carries span, not a second n.
func TestBarsMaxRateSpan(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{}, "AAPL")
	c := newTestClient(f.e)
	f.subscribe(c, Policy{Stream: Bars1s, MaxRate: 1}, "AAPL")
	now := sec(4000.1)
	for i := range 5 { // five buckets in a tenth of a second of wall time
		f.tick("AAPL", sec(4000.5+float64(i)), 100+float64(i), 1, now+int64(i))
	}
	if got := fmt.Sprint(f.bars(c)); got != "[bars.1s 4000 o100 h100 l100 c100 v1 n1 #4000]" {
		t.Fatalf("leading edge %s", got)
	}
	f.clock(sec(4001))
	if got := fmt.Sprint(f.bars(c)); got != "[bars.1s 4003 o103 h103 l103 c103 v1 n1 #4003 span3]" {
		t.Fatalf("slot end %s, want #4003 standing for #4001..#4003", got)
	}
}

// TestDelayedBars checks that a delayed subscriber's bars are made of the
// delayed ticks: final only once the tick closing them is released, and
// marked.
func TestDelayedBars(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{Delay: 300 * time.Millisecond}, "AAPL")
	rt, dl := newTestClient(f.e), newTestClient(f.e)
	f.subscribe(rt, Policy{Stream: Bars1s}, "AAPL")
	f.subscribe(dl, Policy{Stream: Bars1s, Delayed: true}, "AAPL")
	f.tick("AAPL", sec(5000.1), 10, 1, sec(5000.1))
	f.tick("AAPL", sec(5000.5), 11, 2, sec(5000.5))
	f.tick("AAPL", sec(5001.2), 12, 3, sec(5001.2))
	if got := fmt.Sprint(f.bars(rt)); got != "[bars.1s 5000 o10 h11 l10 c11 v3 n2 #5000]" {
		t.Fatalf("realtime %s", got)
	}
	f.clock(sec(5001.4)) // releases 5000.1 and 5000.5; 5001.2 is due at 5001.5
	if got := f.bars(dl); len(got) != 0 {
		t.Fatalf("delayed bar before its closing tick was released: %v", got)
	}
	f.clock(sec(5001.51))
	if got := fmt.Sprint(f.bars(dl)); got != "[bars.1s 5000 o10 h11 l10 c11 v3 n2 #5000 delayed]" {
		t.Fatalf("delayed %s", got)
	}
	// The grace timer of the delayed tier runs Delay behind: 5001's bar is
	// final at 5002.25 for realtime, 5002.55 for delayed.
	f.clock(sec(5002.3))
	if got := len(f.bars(rt)); got != 1 {
		t.Fatalf("realtime got %d bars at 5002.3, want 1", got)
	}
	if got := f.bars(dl); len(got) != 0 {
		t.Fatalf("delayed bar before its delayed grace: %v", got)
	}
	f.clock(sec(5002.6))
	if got := fmt.Sprint(f.bars(dl)); got != "[bars.1s 5001 o12 h12 l12 c12 v3 n1 #5001 delayed]" {
		t.Fatalf("delayed %s", got)
	}
}

// TestBarSpanOnTheWire checks AppendTo's count names: n on a tick, span
// on a final bar, none on a partial.
func TestBarSpanOnTheWire(t *testing.T) {
	t.Parallel()
	data := []byte(`{"x":1}`)
	for _, c := range []struct {
		kind subKind
		want string
	}{{tickSub, `{"x":1,"n":3}`}, {barSub, `{"x":1,"span":3}`}, {progressSub, `{"x":1}`}} {
		m := Message{Data: data, N: 3, key: &mergeKey{kind: c.kind}}
		if got := string(m.AppendTo(nil)); got != c.want || m.wireLen() != len(c.want) {
			t.Errorf("kind %d: %s (wireLen %d), want %s", c.kind, got, m.wireLen(), c.want)
		}
	}
}

// TestDegradedBars lags a client that holds a symbol's ticks and its 1s
// bars with progress updates: past the conflate mark its queue keeps the
// latest final bar, with span adding up so bar seqs stay contiguous, and
// the latest partial apart from it; it is never dropped.
func TestDegradedBars(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{QueueBytes: 16 << 10, ConflateAt: 2 << 10}, "AAPL")
	c := newTestClient(f.e)
	f.subscribe(c, Policy{}, "AAPL")
	f.subscribe(c, Policy{Stream: Bars1s, Partial: true}, "AAPL")
	for i := range 100 { // a bucket a second: a tick, a final bar, a partial
		at := sec(6000.5 + float64(i))
		f.tick("AAPL", at, 100+float64(i), 1, at)
	}
	if c.Cause() != nil || f.e.degraded.Load() != 1 {
		t.Fatalf("cause %v, degraded %d; want a conflating client", c.Cause(), f.e.degraded.Load())
	}
	last := uint64(5999) // the bucket before the first
	var finals, spans, partials int
	for _, m := range drainAll(c) {
		wire := string(m.AppendTo(nil))
		if !strings.Contains(wire, `"type":"bar"`) {
			continue
		}
		var b ticktest.Bar
		if err := json.Unmarshal([]byte(wire), &b); err != nil || strings.Count(wire, `"n":`) != 1 {
			t.Fatalf("bar %s (%v)", wire, err)
		}
		if b.Partial {
			if b.Span != 0 || b.Seq <= last {
				t.Fatalf("partial %s after final #%d", wire, last)
			}
			partials++
			continue
		}
		if b.Seq-uint64(max(b.Span, 1)) != last {
			t.Fatalf("final %s after #%d: gap or repeat", wire, last)
		}
		last = b.Seq
		finals++
		if b.Span > 1 {
			spans++
		}
	}
	if last != 6098 || spans == 0 || finals >= 99 || partials >= 99 {
		t.Fatalf("last final #%d, %d finals (%d with span), %d partials; want #6098 with spans, fewer messages than bars", last, finals, spans, partials)
	}
}

// TestBarJoinedPartWay: a gateway whose first tick of the epoch falls
// inside a bucket, not following on from a tick it saw, never sends that
// bucket as final; the bars after it carry their bucket number as seq and
// the previous bar's as prev, a quiet bucket being no hole; since on bars
// is exact or a snapshot.
func TestBarJoinedPartWay(t *testing.T) {
	t.Parallel()
	f := newBarFixture(t, Config{}, "AAPL")
	c := newTestClient(f.e)
	f.subscribe(c, Policy{Stream: Bars1s}, "AAPL")
	f.seqs["AAPL"] = 9                              // seqs 1..9 went before this gateway started
	f.tick("AAPL", sec(7000.3), 10, 1, sec(7000.3)) // bucket 7000, joined part-way
	f.tick("AAPL", sec(7001.2), 11, 1, sec(7001.2)) // closes 7000: skipped
	f.tick("AAPL", sec(7003.1), 12, 1, sec(7003.1)) // closes 7001; 7002 is quiet
	f.tick("AAPL", sec(7004.1), 13, 1, sec(7004.1)) // closes 7003
	var got []string
	for _, m := range drainAll(c) {
		w := string(m.AppendTo(nil))
		got = append(got, w[strings.Index(w, `"seq"`):])
	}
	if want := `["seq":7001,"prev":7000} "seq":7003,"prev":7001}]`; fmt.Sprint(got) != want {
		t.Fatalf("bars %v, want %s", got, want)
	}
	for _, tc := range []struct {
		since uint64
		epoch string
		want  string
	}{
		{7001, "0", "recovered 1"}, // #7003 follows #7001 with nothing between
		{7000, "0", "recovered 2"}, // the skipped bucket, had from another gateway
		{6999, "0", "snapshot 1"},  // the history does not reach back to it
		{7003, "0", "recovered 0"}, // up to date
		{7001, "x", "snapshot 1"},  // another run
		{7005, "0", "snapshot 1"},  // ahead of this gateway
		{7001, "", "recovered 1"},  // legacy
	} {
		r := newTestClient(f.e)
		res := f.subscribe(r, Policy{Stream: Bars1s, Since: map[string]Position{"AAPL": {Seq: tc.since, Epoch: tc.epoch}}}, "AAPL")
		how := "snapshot"
		if len(res.Recovered) == 1 {
			how = "recovered"
		}
		if got := fmt.Sprint(how, " ", len(f.bars(r))); got != tc.want {
			t.Errorf("since %d@%q: %s, want %s", tc.since, tc.epoch, got, tc.want)
		}
	}
}

// TestBarClockWalksFormingBars: the bar clock keeps only the symbols with
// a bar forming, so closing bars costs what ticked, not what is listed: of
// 1,000 listed symbols the three that tick are on each stream's list, a
// symbol stays on it as its bars roll over, the 1s bars close by the
// clock while the minute's stay, and a symbol retired with its bars
// forming leaves the lists at the next walk of each.
func TestBarClockWalksFormingBars(t *testing.T) {
	t.Parallel()
	syms := make([]string, 1000)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%03d", i)
	}
	f := newBarFixture(t, Config{}, syms...)
	bc := &f.e.shards[0].clock
	listed := func() (n [barStreams - Bars1s]int) {
		for i := range bc.streams {
			n[i] = len(bc.streams[i].syms)
		}
		return n
	}
	for _, ts := range []float64{1000.1, 1001.1, 1002.1} { // each rolls the 1s bar over
		for _, sym := range syms[:3] {
			f.tick(sym, sec(ts), 10, 1, sec(ts))
		}
	}
	if got := listed(); got != [2]int{3, 3} {
		t.Fatalf("forming lists %v, want 3 symbols each", got)
	}
	f.clock(sec(1003.3))
	if got := listed(); got != [2]int{0, 3} {
		t.Fatalf("after the 1s bars closed: lists %v, want none on bars.1s and the 3 minutes", got)
	}
	if got := testutil.ToFloat64(f.e.metrics.bars[Bars1s]); got != 9 {
		t.Fatalf("tickgate_bars_total{stream=bars.1s} = %v, want 9", got)
	}
	f.tick("S000", sec(1003.5), 10, 1, sec(1003.5))
	sym := f.e.lookup("S000")
	sym.shard.mu.Lock()
	sym.shard.retire(sym, retiredDelisted)
	sym.shard.mu.Unlock()
	f.clock(sec(1080.3))
	if got := listed(); got != [2]int{0, 0} {
		t.Fatalf("after the minute closed: lists %v, want both empty", got)
	}
	if got := testutil.ToFloat64(f.e.metrics.bars[Bars1m]); got != 2 {
		t.Fatalf("tickgate_bars_total{stream=bars.1m} = %v, want the 2 minutes of the symbols still listed", got)
	}
}
