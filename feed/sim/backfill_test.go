package sim

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// sliceSink keeps every tick published, safe to read while Run publishes.
type sliceSink struct {
	mu    sync.Mutex
	ticks []feed.Tick
}

func (s *sliceSink) List(feed.Listing) {}

func (s *sliceSink) Publish(t feed.Tick) {
	s.mu.Lock()
	s.ticks = append(s.ticks, t)
	s.mu.Unlock()
}

func (s *sliceSink) all() []feed.Tick {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]feed.Tick(nil), s.ticks...)
}

// manySymbols is n symbols: S0000, S0001, ...
func manySymbols(n int) []string {
	syms := make([]string, n)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%04d", i)
	}
	return syms
}

func TestPlanBackfill(t *testing.T) {
	t.Parallel()
	const now = 1_700_000_045_300_000_000 // 45.3 s into a minute
	end := int64(1_700_000_040_000_000_000)
	for _, tc := range []struct {
		window time.Duration
		n      int
		want   backfillPlan
	}{
		{2 * time.Hour, 100, backfillPlan{end - int64(2*time.Hour), end, int64(5 * time.Second)}},
		{2 * time.Hour, 250, backfillPlan{end - int64(2*time.Hour), end, int64(9 * time.Second)}},
		// 7200 s × 1000 / 200,000 would be every 36 s: too sparse, so every 15 s over 50 min.
		{2 * time.Hour, 1000, backfillPlan{end - int64(50*time.Minute), end, int64(15 * time.Second)}},
		{2 * time.Hour, 5000, backfillPlan{end - int64(10*time.Minute), end, int64(15 * time.Second)}},
	} {
		if got := planBackfill(tc.window, tc.n, now); got != tc.want {
			t.Errorf("planBackfill(%s, %d) = %+v, want %+v", tc.window, tc.n, got, tc.want)
		}
		if p := planBackfill(tc.window, tc.n, now); float64(p.end-p.from)/float64(p.every)*float64(tc.n) > backfillBudget {
			t.Errorf("planBackfill(%s, %d) = %+v: past the budget of %d ticks", tc.window, tc.n, p, backfillBudget)
		}
	}
}

// TestBackfill checks the made-up past: every tick marked synthetic and in
// the run's epoch, in time order, before the start's whole minute, each
// symbol's seqs 1, 2, 3, ... with 12 ticks in every minute of the window
// and a walk that moves no faster than the live one; the first live tick
// carries each symbol on. The same seed gives the same past.
func TestBackfill(t *testing.T) {
	t.Parallel()
	cfg := Config{Symbols: []string{"AAA", "BBB", "CCC"}, Rate: 100, Seed: 3, Epoch: "run-1", Backfill: 10 * time.Minute}
	const now = 1_700_000_045_300_000_000
	end := int64(1_700_000_040_000_000_000)
	s := newSource(t, cfg)
	sink := &sliceSink{}
	if !s.backfill(nil, sink, now) {
		t.Fatal("backfill stopped without being asked to")
	}
	ticks := sink.all()
	if len(ticks) != 3*120 {
		t.Fatalf("%d synthetic ticks, want 3 symbols × 120 (10 min, every 5 s)", len(ticks))
	}
	last := map[string]feed.Tick{}
	perMinute := map[string]int{}
	for i, tk := range ticks {
		if err := tk.Validate(); err != nil || !tk.Synthetic || tk.Epoch != "run-1" {
			t.Fatalf("tick %d %+v: want a valid synthetic tick of run-1 (%v)", i, tk, err)
		}
		if tk.TS < end-int64(10*time.Minute) || tk.TS >= end || (i > 0 && tk.TS <= ticks[i-1].TS) {
			t.Fatalf("tick %d at %d: want ts rising, within the 10 min before %d", i, tk.TS, end)
		}
		prev, ok := last[tk.Symbol]
		if tk.Seq != prev.Seq+1 {
			t.Fatalf("tick %d %s seq %d after %d", i, tk.Symbol, tk.Seq, prev.Seq)
		}
		if ok && math.Abs(math.Log(tk.Price/prev.Price)) > 0.01 {
			t.Fatalf("%s jumped from %v to %v in 5 s", tk.Symbol, prev.Price, tk.Price)
		}
		if tk.Size < 100 || tk.Size%100 != 0 {
			t.Fatalf("tick %d size %d, want whole lots", i, tk.Size)
		}
		last[tk.Symbol] = tk
		perMinute[fmt.Sprint(tk.Symbol, tk.TS/int64(time.Minute))]++
	}
	for k, n := range perMinute {
		if n != 12 {
			t.Errorf("%s: %d ticks in the minute, want 12", k, n)
		}
	}
	if len(perMinute) != 30 {
		t.Errorf("%d symbol-minutes with ticks, want 3 × 10", len(perMinute))
	}
	for range 100 {
		tk := s.next(now)
		if tk.Synthetic || tk.Epoch != "run-1" || tk.Seq != last[tk.Symbol].Seq+1 {
			t.Fatalf("live tick %+v after the backfill, want seq %d of run-1, not synthetic", tk, last[tk.Symbol].Seq+1)
		}
		last[tk.Symbol] = tk
	}

	again := &sliceSink{}
	newSource(t, cfg).backfill(nil, again, now)
	for i, tk := range again.all() {
		if tk != ticks[i] {
			t.Fatalf("tick %d differs for the same seed: %+v, then %+v", i, ticks[i], tk)
		}
	}
}

// TestBackfillManySymbols: past the budget the window shrinks, and every
// symbol still has four ticks in each minute of it.
func TestBackfillManySymbols(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Symbols: manySymbols(5000), Backfill: 2 * time.Hour})
	sink := &sliceSink{}
	s.backfill(nil, sink, 1_700_000_045_300_000_000)
	ticks := sink.all()
	if len(ticks) > backfillBudget {
		t.Fatalf("%d synthetic ticks, past the budget of %d", len(ticks), backfillBudget)
	}
	type minute struct {
		sym string
		m   int64
	}
	perMinute := make(map[minute]int, 5000*10)
	for _, tk := range ticks {
		perMinute[minute{tk.Symbol, tk.TS / int64(time.Minute)}]++
	}
	if len(perMinute) != 5000*10 {
		t.Errorf("%d symbol-minutes, want 5000 × 10", len(perMinute))
	}
	for k, n := range perMinute {
		if n != 4 {
			t.Fatalf("%v: %d ticks in the minute, want 4", k, n)
		}
	}
}

// TestRunBackfills: Run publishes the past first, then live ticks that
// carry each symbol's seqs on; a Source without Backfill starts live.
func TestRunBackfills(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Symbols: []string{"AAA", "BBB"}, Rate: 200, Backfill: 2 * time.Minute})
	sink := &sliceSink{}
	runFor(t, s, sink, 300*time.Millisecond, 2*time.Second)
	ticks := sink.all()
	past := 0
	for past < len(ticks) && ticks[past].Synthetic {
		past++
	}
	if past != 2*24 {
		t.Fatalf("Run began with %d synthetic ticks, want 2 symbols × 24 (2 min, every 5 s)", past)
	}
	seq := map[string]uint64{}
	for i, tk := range ticks {
		if tk.Synthetic != (i < past) || tk.Seq != seq[tk.Symbol]+1 {
			t.Fatalf("tick %d %+v: want synthetic %v and seq %d", i, tk, i < past, seq[tk.Symbol]+1)
		}
		seq[tk.Symbol] = tk.Seq
	}
	if len(ticks) == past {
		t.Fatal("no live tick after the backfill")
	}

	live := &sliceSink{}
	runFor(t, newSource(t, Config{Rate: 200}), live, 100*time.Millisecond, 2*time.Second)
	if got := live.all(); len(got) == 0 || got[0].Synthetic || got[0].Seq != 1 {
		t.Fatalf("without Backfill Run began with %+v, want live seq 1", got[:min(1, len(got))])
	}
}

// TestBackfillStops: a backfill cut short by its context ends Run at once.
func TestBackfillStops(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Symbols: manySymbols(2000), Backfill: 2 * time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sink := &sliceSink{}
	if err := s.Run(ctx, sink); err != nil {
		t.Fatal(err)
	}
	if n := len(sink.all()); n >= 1024 {
		t.Fatalf("%d ticks published after the context ended, want under 1024 (one check's worth)", n)
	}
}
