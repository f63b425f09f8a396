package sim

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tickgate/tickgate/feed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// newSource builds a Source from cfg or fails the test.
func newSource(t testing.TB, cfg Config) *Source {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return s
}

// steps returns the next n ticks of s, all stamped ts 1.
func steps(s *Source, n int) []feed.Tick {
	ticks := make([]feed.Tick, n)
	for i := range ticks {
		ticks[i] = s.next(1)
	}
	return ticks
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a := steps(newSource(t, Config{Seed: 7}), 10_000)
	b := steps(newSource(t, Config{Seed: 7}), 10_000)
	if a[0].Epoch == b[0].Epoch {
		t.Fatalf("two runs of seed 7 share epoch %q: a client could not tell them apart", a[0].Epoch)
	}
	ea, eb := a[0].Epoch, b[0].Epoch
	for i := range a {
		if a[i].Epoch != ea || b[i].Epoch != eb {
			t.Fatalf("tick %d changed epoch within a run", i)
		}
		a[i].Epoch, b[i].Epoch = "", ""
		if a[i] != b[i] {
			t.Fatalf("tick %d differs: %+v vs %+v", i, a[i], b[i])
		}
	}
	c := steps(newSource(t, Config{Seed: 8}), 10_000)
	if slices.Equal(a, c) {
		t.Fatal("seeds 7 and 8 produced the same 10,000 ticks")
	}
}

func TestDefaultSymbols(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{})
	if got := feed.Symbols(s.Listings()); !slices.Equal(got, DefaultSymbols) {
		t.Fatalf("Listings() = %v, want DefaultSymbols", got)
	}
	seen := map[string]bool{}
	for _, sym := range DefaultSymbols {
		if !feed.ValidSymbol(sym) || seen[sym] {
			t.Errorf("DefaultSymbols: %q invalid or duplicate", sym)
		}
		seen[sym] = true
		if p, ok := profiles[sym]; !ok || p.prevClose <= 0 || p.sigma < minSigma || p.sigma > maxSigma {
			t.Errorf("DefaultSymbols: %q has profile %+v (ok %v), want a close and a sigma in [%v, %v]", sym, p, ok, minSigma, maxSigma)
		}
	}
}

func TestListingsIsCopy(t *testing.T) {
	t.Parallel()
	in := []string{"AAA", "BBB"}
	s := newSource(t, Config{Symbols: in})
	in[0] = "ZZZ"
	s.Listings()[1].Symbol = "YYY"
	if got := feed.Symbols(s.Listings()); !slices.Equal(got, []string{"AAA", "BBB"}) {
		t.Fatalf("Listings() = %v after caller mutation", got)
	}
}

func TestSeqContiguous(t *testing.T) {
	t.Parallel()
	last := map[string]uint64{}
	for _, tk := range steps(newSource(t, Config{Seed: 1}), 50_000) {
		if tk.Seq != last[tk.Symbol]+1 {
			t.Fatalf("%s: seq %d after %d", tk.Symbol, tk.Seq, last[tk.Symbol])
		}
		last[tk.Symbol] = tk.Seq
	}
}

func TestSkew(t *testing.T) {
	t.Parallel()
	count := map[string]int{}
	for _, tk := range steps(newSource(t, Config{Seed: 3}), 100_000) {
		count[tk.Symbol]++
	}
	counts := make([]int, len(DefaultSymbols))
	for i, sym := range DefaultSymbols {
		counts[i] = count[sym]
	}
	hottest := counts[0]
	slices.Sort(counts)
	median := counts[len(counts)/2]
	if hottest < 10*median {
		t.Errorf("hottest symbol got %d ticks, median %d: want > 10x", hottest, median)
	}
	if counts[0] == 0 {
		t.Errorf("some symbol got no ticks in 100,000; want every one to tick")
	}
}

func TestSingleSymbol(t *testing.T) {
	t.Parallel()
	for i, tk := range steps(newSource(t, Config{Symbols: []string{"ONLY"}}), 100) {
		if tk.Symbol != "ONLY" || tk.Seq != uint64(i+1) {
			t.Fatalf("tick %d = %s/%d", i, tk.Symbol, tk.Seq)
		}
	}
}

func TestPricesSane(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Seed: 11, Symbols: []string{"AAPL", "F", "NEWCO", "BKNG", "PENNY"}})
	start := map[string]float64{}
	for _, sym := range s.syms {
		start[sym.name] = sym.px
	}
	for i := range 100_000 {
		tk := s.next(int64(i + 1))
		if err := tk.Validate(); err != nil {
			t.Fatalf("tick %d: %v", i, err)
		}
		if !(tk.Bid <= tk.Price && tk.Price <= tk.Ask && tk.Bid < tk.Ask) {
			t.Fatalf("tick %d: want bid <= px <= ask, bid < ask: %+v", i, tk)
		}
		if spread := tk.Ask - tk.Bid; spread < 0.0099 || spread > 0.0501 {
			t.Fatalf("tick %d: spread %v outside 1-5 cents", i, spread)
		}
		if tk.Size <= 0 || tk.Size%100 != 0 {
			t.Fatalf("tick %d: size %d not a positive round lot", i, tk.Size)
		}
		if r := tk.Price / start[tk.Symbol]; r < 0.2 || r > 5 {
			t.Fatalf("tick %d: %s at %v, %.2fx its start", i, tk.Symbol, tk.Price, r)
		}
	}
}

func TestPriceFloor(t *testing.T) {
	t.Parallel()
	if got := step(minPrice, 0, 1, -100); got != minPrice {
		t.Errorf("step below floor = %v, want %v", got, minPrice)
	}
	if got := cents(0.001); got != 1 {
		t.Errorf("cents(0.001) = %d, want 1", got)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rate: -1}, "rate"},
		{Config{Rate: 2e7}, "rate"},
		{Config{Symbols: []string{"AAPL", "aapl lower"}}, `invalid symbol "aapl lower"`},
		{Config{Symbols: []string{"AAPL", "MSFT", "AAPL"}}, `duplicate symbol "AAPL"`},
		{Config{Skew: 0.5}, "skew"},
		{Config{Skew: 1}, "skew"},
		{Config{Epoch: "a b"}, "epoch"},
		{Config{Universe: -1}, "universe"},
		{Config{Universe: 2_000_000}, "universe"},
		{Config{Universe: 10, Symbols: []string{"AAPL"}}, "give one"},
		{Config{RelistEvery: -time.Second}, "relist"},
		{Config{Symbols: []string{"AAPL"}, RelistEvery: time.Second}, "relist"},
		{Config{Symbols: []string{"AAPL"}, Resume: []feed.Tick{{Symbol: "MSFT", Seq: 1, Price: 1, Bid: 1, Ask: 1, TS: 1}}}, "resume: MSFT"},
		{Config{Symbols: []string{"AAPL"}, Resume: []feed.Tick{{Symbol: "AAPL", Seq: 1, Price: 1, Bid: 1, Ask: 1, TS: 1}, {Symbol: "AAPL", Seq: 2, Price: 1, Bid: 1, Ask: 1, TS: 1}}}, "resumed twice"},
		{Config{Symbols: []string{"AAPL"}, Resume: []feed.Tick{{Symbol: "AAPL"}}}, "resume: feed: bad tick"},
		{Config{Backfill: -time.Minute}, "backfill -1m0s out of range"},
		{Config{Backfill: 25 * time.Hour}, "backfill 25h0m0s out of range"},
		{Config{Symbols: []string{"AAPL"}, Backfill: time.Hour, Resume: []feed.Tick{{Symbol: "AAPL", Seq: 1, Price: 1, Bid: 1, Ask: 1, TS: 1}}}, "backfill: a resumed run"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sim: ") {
			t.Errorf("New(%+v) = %v, want an error mentioning %q", tc.cfg, err, tc.want)
		}
	}
}

// countSink counts and validates ticks. Run publishes from its goroutine;
// tests read the fields only after Run has returned.
type countSink struct {
	n   int
	bad error // first Validate error
}

func (c *countSink) List(feed.Listing) {}

func (c *countSink) Publish(t feed.Tick) {
	if err := t.Validate(); err != nil && c.bad == nil {
		c.bad = err
	}
	c.n++
}

// runFor runs s into sink until d has passed and fails t unless Run
// returns nil within grace of the deadline.
func runFor(t *testing.T, s *Source, sink feed.Sink, d, grace time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, sink) }()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(d + grace):
		t.Fatalf("Run did not return within %v of its deadline", grace)
	}
}

func TestEpoch(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Symbols: []string{"AAA", "BBB"}, Epoch: "run-1"})
	for _, tk := range steps(s, 100) {
		if tk.Epoch != "run-1" {
			t.Fatalf("tick %+v, want epoch run-1", tk)
		}
	}
	if s.Epoch() != "run-1" {
		t.Fatalf("Epoch() = %q, want run-1", s.Epoch())
	}
	if e := newSource(t, Config{}).Epoch(); !feed.ValidEpoch(e) || len(e) != 12 {
		t.Fatalf("default Epoch() = %q, want a fresh NewEpoch", e)
	}
}

// TestResume carries one symbol on from an earlier run's last tick while
// the other starts at 1 in the new epoch.
func TestResume(t *testing.T) {
	t.Parallel()
	last := feed.Tick{Symbol: "BBB", Seq: 41, Price: 50, Bid: 49.99, Ask: 50.01, TS: 1, Epoch: "old"}
	s := newSource(t, Config{Symbols: []string{"AAA", "BBB"}, Epoch: "new", Resume: []feed.Tick{last}})
	want := map[string]uint64{"AAA": 1, "BBB": 42}
	for _, tk := range steps(s, 1000) {
		wantEpoch := map[string]string{"AAA": "new", "BBB": "old"}[tk.Symbol]
		if tk.Seq != want[tk.Symbol] || tk.Epoch != wantEpoch {
			t.Fatalf("tick %+v, want seq %d epoch %s", tk, want[tk.Symbol], wantEpoch)
		}
		if tk.Symbol == "BBB" && want["BBB"] == 42 && (tk.Price < 45 || tk.Price > 55) {
			t.Fatalf("resumed BBB at %v, want it to go on from 50", tk.Price)
		}
		want[tk.Symbol]++
	}
	if want["BBB"] == 42 {
		t.Fatal("BBB never ticked")
	}
}

func TestRun(t *testing.T) {
	t.Parallel()
	const rate, dur = 2000, 500 * time.Millisecond
	s := newSource(t, Config{Rate: rate})
	sink := &countSink{}
	runFor(t, s, sink, dur, 2*time.Second)
	// Loose bounds: the machine is shared, so only gross pacing bugs fail.
	if want := int(rate * dur.Seconds()); sink.n <= 0 || sink.n > 2*want+100 {
		t.Errorf("Run emitted %d ticks in %v at %d/s, want (0, %d]", sink.n, dur, rate, 2*want+100)
	}
	if sink.bad != nil {
		t.Errorf("Run emitted an invalid tick: %v", sink.bad)
	}
	if err := s.Run(context.Background(), sink); err == nil {
		t.Error("second Run returned nil, want an error")
	}
}

func TestRunMaxRateStops(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Rate: maxRate})
	sink := &countSink{}
	runFor(t, s, sink, 500*time.Millisecond, 5*time.Second) // long enough for a loaded machine to schedule it
	if sink.n == 0 {
		t.Error("Run at max rate emitted nothing")
	}
}

func TestNextAllocs(t *testing.T) {
	s := newSource(t, Config{})
	if n := testing.AllocsPerRun(1000, func() { s.next(1) }); n != 0 {
		t.Errorf("next allocates %v times per tick, want 0", n)
	}
}

func BenchmarkNext(b *testing.B) {
	s := newSource(b, Config{})
	b.ReportAllocs()
	var tk feed.Tick
	for b.Loop() {
		tk = s.next(1)
	}
	_ = tk
}
