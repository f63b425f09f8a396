package fanout

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// budgetFixture is an epochFixture fed ticks one a millisecond of a
// clock the test owns, the shard's accounting checked after each.
type budgetFixture struct {
	*epochFixture
	seqs map[string]uint64
	now  int64
}

func newBudgetFixture(t *testing.T, cfg Config, syms ...string) *budgetFixture {
	t.Helper()
	return &budgetFixture{epochFixture: newEpochFixture(t, cfg, syms...), seqs: map[string]uint64{}, now: baseTS}
}

// tick delivers sym's next tick, a millisecond after the last one.
func (f *budgetFixture) tick(sym string) {
	f.seqs[sym]++
	f.now += int64(time.Millisecond)
	f.epochFixture.tick(sym, "", f.seqs[sym], f.now)
	checkBudget(f.t, f.e)
}

// rounds delivers n ticks of each of syms, round robin.
func (f *budgetFixture) rounds(n int, syms ...string) {
	for range n {
		for _, sym := range syms {
			f.tick(sym)
		}
	}
}

// held is how many records sym's ticks topic keeps, and its capacity.
func (f *budgetFixture) held(sym string) (n, capacity int) {
	tp := f.e.lookup(sym).topics[Ticks]
	return tp.kept.n, len(tp.kept.buf)
}

// checkBudget checks each shard's accounting against what it keeps: the
// bytes counted are the rings' capacities times their element size, the
// victims heap holds exactly the topics with room for more than a
// snapshot, and the total is within the share unless no history is left
// to release.
func checkBudget(tb testing.TB, e *Engine) {
	tb.Helper()
	for _, s := range e.shards {
		s.mu.Lock()
		var used [numKinds]int64
		victims := 0
		for _, sym := range s.syms {
			used[keptSymbols] += symbolBytes(sym.name, sym.tiers())
			for _, tier := range [2]*symbol{sym, sym.delayed} {
				if tier == nil {
					continue
				}
				if tier.book != nil {
					used[keptBooks] += tier.book.log.bytes
					used[keptSymbols] += bookStateBytes(s.depth)
				}
				for st, tp := range tier.topics {
					if tp == nil {
						continue
					}
					if Stream(st).lazy() {
						used[keptSymbols] += topicBytes
					}
					c := len(tp.kept.buf)
					used[tp.kind()] += int64(c) * recordBytes
					if (c > tp.floor()) != (tp.victim >= 0) {
						tb.Fatalf("%s %s: capacity %d, victim index %d", tier.name, tp.stream, c, tp.victim)
					}
					if c > tp.floor() {
						victims++
					}
				}
			}
		}
		for _, l := range s.delay.lanes {
			used[keptDelay] += int64(len(l.held.buf)) * heldTickBytes
			for i := range l.held.n {
				if d := l.held.at(i).depth; d != nil {
					used[keptDelay] += d.counted
				}
			}
		}
		b := &s.budget
		total, share := b.total, b.share
		s.mu.Unlock()
		sum := int64(0)
		for _, n := range used {
			sum += n
		}
		if used != b.used || total != sum || victims != len(b.victims) {
			tb.Fatalf("shard %d counts %v (total %d, %d victims), keeps %v (%d victims)", s.id, b.used, total, len(b.victims), used, victims)
		}
		if total > share && victims > 0 { // past it only by what has no history left to release
			tb.Fatalf("shard %d keeps %d bytes (%v), over its share of %d with history to release", s.id, total, used, share)
		}
	}
}

// listedBytes is what syms cost the memory budget listed under cfg
// (symbolBytes), before anything is kept for them: a test's budget is
// that plus the records it means to keep.
func listedBytes(cfg Config, syms ...string) (n int64) {
	tiers := 1
	if cfg.Delay > 0 {
		tiers = 2
	}
	for _, sym := range syms {
		n += symbolBytes(sym, tiers)
	}
	return n
}

// TestBudgetEvictsLeastRecentlySubscribedFirst fills rings of 64 under a
// budget of 145 records for four symbols: one never subscribed (A), one
// subscribed and left (B), two subscribed, C before D. The history goes
// in that order: A's first, then B's, and the two held keep theirs. A
// newly subscribed A then takes B's, then C's, never D's.
func TestBudgetEvictsLeastRecentlySubscribedFirst(t *testing.T) {
	t.Parallel()
	syms := []string{"A", "B", "C", "D"}
	cfg := Config{History: 64}
	cfg.MemoryBudget = listedBytes(cfg, syms...) + 145*recordBytes
	f := newBudgetFixture(t, cfg, syms...)
	left, cc, cd := newTestClient(f.e), newTestClient(f.e), newTestClient(f.e)
	f.subscribe(left, Policy{}, "B")
	f.e.Unsubscribe(left.Client, Ticks, []string{"B"})
	f.subscribe(cc, Policy{}, "C")
	f.subscribe(cd, Policy{}, "D")
	f.rounds(64, "A", "B", "C", "D")

	a, _ := f.held("A")
	b, bCap := f.held("B")
	c, _ := f.held("C")
	d, _ := f.held("D")
	if a != 1 || c != 64 || d != 64 || b < 1 || bCap > 16 {
		t.Fatalf("held A %d, B %d (of %d), C %d, D %d; want A its snapshot only, C and D all 64, B the rest", a, b, bCap, c, d)
	}
	evicted := testutil.ToFloat64(f.e.metrics.evicted[keptTicks])
	if bytes := testutil.ToFloat64(f.e.metrics.evictedBytes[keptTicks]); evicted == 0 || bytes < evicted*float64(recordBytes) {
		t.Fatalf("evicted %v records, %v bytes", evicted, bytes)
	}

	ca := newTestClient(f.e)
	f.subscribe(ca, Policy{}, "A") // A is now the most recent of all
	drainAll(ca)
	f.rounds(63, "A")
	a, _ = f.held("A")
	b, _ = f.held("B")
	c, _ = f.held("C")
	d, _ = f.held("D")
	if a != 64 || b != 1 || c > 16 || c < 1 || d != 64 {
		t.Fatalf("after A's subscription: held A %d, B %d, C %d, D %d; want A 64, B 1, C the rest, D 64", a, b, c, d)
	}
	checkGauge(t, f.reg, "tickgate_memory_budget_bytes", float64(cfg.MemoryBudget))
	exp := fmt.Sprintf(`
# HELP tickgate_memory_kept_bytes Bytes under the memory budget, by kind: ticks, bars and books (snapshots and histories), delay_line (the delayed tier's held messages), symbols (each listed symbol's own state).
# TYPE tickgate_memory_kept_bytes gauge
tickgate_memory_kept_bytes{kind="bars"} 0
tickgate_memory_kept_bytes{kind="books"} 0
tickgate_memory_kept_bytes{kind="delay_line"} 0
tickgate_memory_kept_bytes{kind="symbols"} %d
tickgate_memory_kept_bytes{kind="ticks"} %d
`, listedBytes(cfg, syms...), f.e.shards[0].budget.used[keptTicks])
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(exp), "tickgate_memory_kept_bytes"); err != nil {
		t.Fatal(err)
	}
	if kept := f.e.shards[0].budget.used[keptTicks]; kept < 140*recordBytes {
		t.Fatalf("kept %d bytes of a budget of %d: the budget is there to be used", kept, 145*recordBytes)
	}
}

// TestBudgetSinceBehindEvicted: a since inside what the budget kept is
// recovered exactly, with the bytes the live subscriber had; one behind
// it is answered snapshot, however recently it was in the ring.
func TestBudgetSinceBehindEvicted(t *testing.T) {
	t.Parallel()
	cfg := Config{History: 64}
	cfg.MemoryBudget = listedBytes(cfg, "A", "B") + 100*recordBytes
	f := newBudgetFixture(t, cfg, "A", "B")
	live := newTestClient(f.e)
	f.subscribe(live, Policy{}, "B")
	f.rounds(64, "A", "B") // A keeps a few records, B up to 64
	byseq := map[uint64]string{}
	for _, m := range drainAll(live) {
		tk := decodeAll(t, []Message{m})[0]
		byseq[tk.Seq] = string(m.Data)
	}
	n, _ := f.held("A")
	if n < 1 || n >= 64 {
		t.Fatalf("A keeps %d records; the test wants part of its history gone", n)
	}
	for _, tc := range []struct {
		sym      string
		since    uint64
		recover  bool
		firstSeq uint64
	}{
		{"A", 64 - uint64(n), true, 65 - uint64(n)}, // the oldest kept record joins it
		{"A", 63 - uint64(n), false, 64},            // the record after it was released
		{"A", 1, false, 64},
		{"B", 1, true, 2},
	} {
		c := newTestClient(f.e)
		res := f.subscribe(c, Policy{Since: legacySince(map[string]uint64{tc.sym: tc.since})}, tc.sym)
		if got := slices.Equal(res.Recovered, []string{tc.sym}); got != tc.recover {
			t.Fatalf("%s since %d: recovered %v snapshot %v, want recovered %v", tc.sym, tc.since, res.Recovered, res.Snapshot, tc.recover)
		}
		msgs := drainAll(c)
		if first := checkCatchUp(t, msgs, tc.sym, 64); first != tc.firstSeq {
			t.Fatalf("%s since %d: caught up from seq %d, want %d", tc.sym, tc.since, first, tc.firstSeq)
		}
		if tc.sym != "B" {
			continue
		}
		for _, m := range msgs {
			if tk := decodeAll(t, []Message{m})[0]; string(m.Data) != byseq[tk.Seq] {
				t.Fatalf("B seq %d recovered as %s, live it was %s", tk.Seq, m.Data, byseq[tk.Seq])
			}
		}
	}
}

// TestBudgetKeepsSnapshots: under a budget with room for little more than
// one record per topic, every symbol a client holds still has its
// snapshot, byte for byte the last tick its subscribers got, also once
// its live bytes have left the arena and are encoded again.
func TestBudgetKeepsSnapshots(t *testing.T) {
	t.Parallel()
	syms := []string{"A", "B", "C", "D", "E", "F"}
	cfg := Config{History: 1024}
	cfg.MemoryBudget = listedBytes(cfg, syms...) + 10*recordBytes
	f := newBudgetFixture(t, cfg, syms...)
	live := newTestClient(f.e)
	f.subscribe(live, Policy{}, syms...)
	f.rounds(50, syms...)
	last := map[string]string{}
	for _, m := range drainAll(live) {
		last[decodeAll(t, []Message{m})[0].Symbol] = string(m.Data)
	}
	for renew := range 3 { // shared live bytes, then bytes made again
		c := newTestClient(f.e)
		f.subscribe(c, Policy{}, syms...)
		msgs := drainAll(c)
		if len(msgs) != len(syms) {
			t.Fatalf("%d snapshots for %d symbols", len(msgs), len(syms))
		}
		for _, m := range msgs {
			if tk := decodeAll(t, []Message{m})[0]; string(m.Data) != last[tk.Symbol] || m.TS != 0 {
				t.Fatalf("renew %d: %s snapshot %s (TS %d), its last tick was %s", renew, tk.Symbol, m.Data, m.TS, last[tk.Symbol])
			}
		}
		f.e.shards[0].arena.renew()
		f.e.shards[0].arena.renew()
	}
}

// TestBudgetDelayLineFoldsLast holds ticks in the delay line under a
// budget too small for them and the histories: the line's lanes take the
// histories' room first, subscribed or not, and fold held ticks only once
// no history is left; the delayed stream stays contiguous.
func TestBudgetDelayLineFoldsLast(t *testing.T) {
	t.Parallel()
	cfg := Config{History: 64, Delay: time.Second}
	cfg.MemoryBudget = listedBytes(cfg, "A", "B") + 4096
	f := newBudgetFixture(t, cfg, "A", "B")
	live, dl := newTestClient(f.e), newTestClient(f.e)
	f.subscribe(live, Policy{}, "A", "B")
	f.subscribe(dl, Policy{Delayed: true}, "A", "B")
	sawHistory := false
	for range 60 {
		f.rounds(1, "A", "B")
		folded := testutil.ToFloat64(f.e.metrics.conflatedDelay) > 0
		for _, sym := range []string{"A", "B"} {
			n, _ := f.held(sym)
			sawHistory = sawHistory || n > 1
			if folded && n > 1 {
				t.Fatalf("the line folded held ticks while %s kept %d records of history", sym, n)
			}
		}
	}
	if !sawHistory || testutil.ToFloat64(f.e.metrics.conflatedDelay) == 0 || testutil.ToFloat64(f.e.metrics.evicted[keptTicks]) == 0 {
		t.Fatal("the test wants history kept, then released, then ticks folded")
	}
	f.e.shards[0].flushDue(f.now + 2*int64(time.Second))
	checkBudget(t, f.e)
	last := map[string]uint64{}
	for _, m := range drainAll(dl) {
		tk := decodeAll(t, []Message{m})[0]
		if tk.Seq-uint64(m.count()) != last[tk.Symbol] {
			t.Fatalf("delayed %s seq %d (n %d) after %d", tk.Symbol, tk.Seq, m.count(), last[tk.Symbol])
		}
		last[tk.Symbol] = tk.Seq
	}
	if last["A"] != 60 || last["B"] != 60 {
		t.Fatalf("delayed stream ends at %v, want 60 each", last)
	}
}

// TestBudgetNeverExceeded drives 60 symbols with a delayed tier, bars and
// random subscriptions coming and going under a budget far below what
// their histories want: after every batch and every wake the shard keeps
// at most its share, its counts match what it holds, and a since is
// either recovered exactly or answered snapshot.
func TestBudgetNeverExceeded(t *testing.T) {
	t.Parallel()
	syms := make([]string, 60)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%02d", i)
	}
	cfg := Config{History: 256, BarHistory: 32, Delay: 200 * time.Millisecond}
	cfg.MemoryBudget = listedBytes(cfg, syms...) + 96<<10
	f := newBudgetFixture(t, cfg, syms...)
	rng := rand.New(rand.NewPCG(1, 2))
	var clients []*testClient
	for step := range 3000 {
		batch := make([]inTick, 1+rng.IntN(32))
		for i := range batch {
			sym := syms[min(rng.IntN(len(syms)), rng.IntN(len(syms)))] // skewed to the first
			f.seqs[sym]++
			f.now += int64(7 * time.Millisecond) // bars close every ~143 ticks
			tk := testTick(sym, f.seqs[sym])
			tk.TS = f.now
			batch[i] = inTick{sym: f.e.lookup(sym), tick: tk}
		}
		f.e.shards[0].deliver(batch, f.now)
		checkBudget(t, f.e)
		f.e.shards[0].flushDue(f.now)
		checkBudget(t, f.e)
		switch {
		case step%10 == 0:
			c := newTestClient(f.e)
			p := Policy{Delayed: rng.IntN(2) == 0, Stream: Streams()[rng.IntN(numStreams)]}
			f.subscribe(c, p, syms[rng.IntN(len(syms)):][:1]...)
			clients = append(clients, c)
		case step%10 == 5 && len(clients) > 0:
			i := rng.IntN(len(clients))
			f.e.UnsubscribeAll(clients[i].Client)
			clients = slices.Delete(clients, i, i+1)
		case step%50 == 25:
			sym := syms[rng.IntN(10)]
			checkSince(t, f, sym, f.seqs[sym]-uint64(rng.IntN(300)))
		}
		for _, c := range clients {
			drainAll(c)
		}
	}
	if testutil.ToFloat64(f.e.metrics.evicted[keptTicks]) == 0 || testutil.ToFloat64(f.e.metrics.evicted[keptBars]) == 0 {
		t.Fatal("the test wants ticks and bars evicted")
	}
}

// checkSince subscribes a new client to sym's ticks with since: recovered
// must bring exactly the seqs after since; snapshot, one tick.
func checkSince(t *testing.T, f *budgetFixture, sym string, since uint64) {
	t.Helper()
	c := newTestClient(f.e)
	res := f.subscribe(c, Policy{Since: legacySince(map[string]uint64{sym: since})}, sym)
	msgs := drainAll(c)
	last := f.seqs[sym]
	if len(res.Recovered) == 1 {
		if since == last && len(msgs) == 0 {
			return
		}
		if first := checkCatchUp(t, msgs, sym, last); first != since+1 {
			t.Fatalf("%s since %d recovered from seq %d", sym, since, first)
		}
	} else if len(msgs) != 1 {
		t.Fatalf("%s since %d: snapshot of %d messages", sym, since, len(msgs))
	}
	f.e.UnsubscribeAll(c.Client)
}

// checkCatchUp checks that msgs are sym's ticks from some seq through
// last, contiguous, each with TS 0, as a snapshot or catch-up is queued,
// and returns the first seq.
func checkCatchUp(tb testing.TB, msgs []Message, sym string, last uint64) uint64 {
	tb.Helper()
	ticks := decodeAll(tb, msgs)
	if len(ticks) == 0 || ticks[len(ticks)-1].Seq != last {
		tb.Fatalf("%s: caught up %d ticks, want through seq %d", sym, len(ticks), last)
	}
	for i, tk := range ticks {
		if tk.Symbol != sym || msgs[i].TS != 0 || i > 0 && tk.Seq != ticks[i-1].Seq+1 {
			tb.Fatalf("%s: catch-up message %d is %s (TS %d)", sym, i, msgs[i].Data, msgs[i].TS)
		}
	}
	return ticks[0].Seq
}

// TestBudgetOnTestClock runs the engine, two shards, a delayed tier and
// bars, on a synctest clock: 40 symbols tick for 20 s of virtual time
// under a budget far below what their histories want. At every look the
// kept bytes the metrics report are within the budget, and at the end a
// held symbol's since is recovered exactly while an old one is answered
// snapshot.
func TestBudgetOnTestClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		syms := make([]string, 40)
		for i := range syms {
			syms[i] = fmt.Sprintf("S%02d", i)
		}
		cfg := Config{Shards: 2, History: 512, BarHistory: 64, Delay: time.Second}
		budget := listedBytes(cfg, syms...) + 96<<10
		cfg.MemoryBudget = budget
		e, reg := startEngine(t, cfg, syms...)
		c := newTestClient(e)
		mustSubscribe(t, e, c, "S00", "S01")
		seqs := map[string]uint64{}
		for step := range 2000 {
			sym := syms[(step*7)%len(syms)]
			if step%3 == 0 {
				sym = "S00"
			}
			seqs[sym]++
			tk := testTick(sym, seqs[sym])
			tk.TS = time.Now().UnixNano()
			e.Publish(tk)
			time.Sleep(10 * time.Millisecond)
			synctest.Wait()
			drainAll(c)
			if kept := gatherSum(t, reg, "tickgate_memory_kept_bytes"); kept > float64(budget) {
				t.Fatalf("step %d: kept %v bytes, over the budget of %d", step, kept, budget)
			}
		}
		if testutil.ToFloat64(e.metrics.evicted[keptTicks]) == 0 {
			t.Fatal("the test wants history evicted")
		}
		for _, tc := range []struct {
			since   uint64
			recover bool
		}{{seqs["S00"] - 100, true}, {1, false}} {
			late := newTestClient(e)
			res, _ := e.Subscribe(late.Client, []string{"S00"}, Policy{Since: legacySince(map[string]uint64{"S00": tc.since})}, nil)
			msgs := drainAll(late)
			first := checkCatchUp(t, msgs, "S00", seqs["S00"])
			if recovered := len(res.Recovered) == 1; recovered != tc.recover || recovered && first != tc.since+1 || !recovered && len(msgs) != 1 {
				t.Fatalf("since %d: %+v, caught up %d from seq %d", tc.since, res, len(msgs), first)
			}
		}
	})
}

// gatherSum is the sum of every series of the family name in reg.
func gatherSum(tb testing.TB, reg prometheus.Gatherer, name string) (sum float64) {
	tb.Helper()
	for _, m := range gather(tb, reg, name).GetMetric() {
		sum += m.GetGauge().GetValue()
	}
	return sum
}

// TestBudgetRelease: releasing a topic and its symbol's delay-line lane
// (what retiring a symbol does) gives back every byte they kept; the
// topic's next tick starts it again from a snapshot.
func TestBudgetRelease(t *testing.T) {
	t.Parallel()
	f := newBudgetFixture(t, Config{History: 64, Delay: time.Second}, "A", "B")
	f.rounds(40, "A", "B")
	s, sym := f.e.shards[0], f.e.lookup("A")
	s.mu.Lock()
	before := s.budget.total
	kept := int64(len(sym.topics[Ticks].kept.buf))*recordBytes + int64(len(s.delay.lanes[sym.idx].held.buf))*heldTickBytes
	s.budget.release(sym.topics[Ticks])
	s.delay.release(&s.budget, sym.idx)
	after, ticks := s.budget.total, s.delay.ticks
	s.mu.Unlock()
	checkBudget(t, f.e)
	if kept == 0 || after != before-kept || ticks != 40 {
		t.Fatalf("released %d of %d bytes kept (%d → %d); the line holds %d ticks, want B's 40", before-after, kept, before, after, ticks)
	}
	c := newTestClient(f.e)
	f.subscribe(c, Policy{}, "A")
	if msgs := drainAll(c); len(msgs) != 0 {
		t.Fatalf("a released topic sent %d messages as its snapshot", len(msgs))
	}
	f.tick("A")
	if n, capacity := f.held("A"); n != 1 || capacity != 1 {
		t.Fatalf("after its next tick A keeps %d of %d, want its snapshot", n, capacity)
	}
}

// TestListingsTakeRoomFromHistory: a listed symbol's own state counts in
// the budget, so listings into a full budget release history, the least
// recently subscribed first (B, never subscribed, before A, held), down
// to snapshots; the budget is kept all along (checkBudget after each).
// Delisting them gives their bytes back, and A's ring grows again.
func TestListingsTakeRoomFromHistory(t *testing.T) {
	t.Parallel()
	cfg := Config{History: 64}
	cfg.MemoryBudget = listedBytes(cfg, "A", "B") + 128*recordBytes
	f := newUniverseFixture(t, cfg, "A", "B")
	c := newTestClient(f.e)
	mustSubscribe(t, f.e, c, "A")
	seqs := map[string]uint64{}
	tick := func(sym string) {
		seqs[sym]++
		f.tick(testTick(sym, seqs[sym]))
		checkBudget(t, f.e)
	}
	held := func(sym string) int { return f.e.lookup(sym).topics[Ticks].kept.n }
	for range 64 {
		tick("A")
		tick("B")
	}
	if held("A") != 64 || held("B") != 64 {
		t.Fatalf("before the listings: A keeps %d, B %d, want 64 each", held("A"), held("B"))
	}
	var added []string
	for i := 0; held("A") > 1; i++ {
		name := fmt.Sprintf("N%02d", i)
		sym, why := f.e.listOne(name, 0)
		if sym == nil {
			t.Fatalf("%s refused: %s", name, why)
		}
		f.deliver(inTick{sym: sym, op: opList})
		checkBudget(t, f.e)
		added = append(added, name)
		if held("A") < 64 && held("B") > 1 {
			t.Fatalf("after %d listings A keeps %d while B keeps %d: the held topic's history went first", len(added), held("A"), held("B"))
		}
	}
	if got := f.e.shards[0].budget.used[keptSymbols]; got != listedBytes(cfg, append(added, "A", "B")...) {
		t.Fatalf("symbols count %d bytes, want %d", got, listedBytes(cfg, append(added, "A", "B")...))
	}
	if testutil.ToFloat64(f.e.metrics.evicted[keptTicks]) < 126 {
		t.Fatalf("evicted %v records, want the 126 of history", testutil.ToFloat64(f.e.metrics.evicted[keptTicks]))
	}
	for _, name := range added {
		f.delist(name)
		checkBudget(t, f.e)
	}
	for range 64 {
		tick("A")
	}
	if held("A") != 64 {
		t.Fatalf("after the delistings A keeps %d, want 64 again", held("A"))
	}
}
