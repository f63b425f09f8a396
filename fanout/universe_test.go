package fanout

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
)

// universeFixture is an engine that is not running, whose shard the test
// hands messages to as its goroutine would: a tick, a listing, a
// delisting, in feed order.
type universeFixture struct {
	t   *testing.T
	e   *Engine
	now int64
}

func newUniverseFixture(t *testing.T, cfg Config, syms ...string) *universeFixture {
	t.Helper()
	cfg.Shards = 1
	e, _ := newEngine(t, cfg, syms...)
	return &universeFixture{t: t, e: e, now: baseTS}
}

// tick publishes tk as Engine.Publish would, and delivers it at once.
func (f *universeFixture) tick(tk feed.Tick) {
	f.t.Helper()
	sym := f.e.lookup(tk.Symbol)
	if sym == nil {
		var why refusal
		if sym, why = f.e.listOne(tk.Symbol, 0); sym == nil {
			f.t.Fatalf("%s refused: %s", tk.Symbol, why)
		}
	}
	f.deliver(inTick{sym: sym, tick: tk})
}

// deliver hands in to the shard at the fixture's clock, one millisecond
// on from the last.
func (f *universeFixture) deliver(in inTick) {
	f.now += int64(time.Millisecond)
	f.e.shards[0].deliver([]inTick{in}, f.now)
}

// delist delists sym as Engine.List would, and delivers it at once.
func (f *universeFixture) delist(sym string) *symbol {
	f.t.Helper()
	s := f.e.lookup(sym)
	if s == nil {
		f.t.Fatalf("delist %s: not listed", sym)
	}
	f.deliver(inTick{sym: s, op: opDelist})
	return s
}

func TestListedByFirstTickOrListing(t *testing.T) {
	t.Parallel()
	e, reg := startEngine(t, Config{Shards: 2})
	if got := e.Symbols(); len(got) != 0 {
		t.Fatalf("an engine listed nothing carries %q", got)
	}
	e.Publish(testTick("NEW1", 1))
	e.List(feed.Listing{Symbol: "NEW2", PrevClose: 12.5})
	e.List(feed.Listing{Symbol: "NEW1", PrevClose: 7.25}) // a previous close for a listed symbol
	waitDelivered(t, e, 1)
	if got := e.Symbols(); !slices.Equal(got, []string{"NEW1", "NEW2"}) {
		t.Fatalf("Symbols() = %q, want NEW1, NEW2 in listing order", got)
	}
	checkFor(t, 5*time.Second, func() error {
		if info, _ := e.Info("NEW1"); info.PrevClose != 7.25 {
			return fmt.Errorf("Info(NEW1) = %+v, want prev close 7.25", info)
		}
		return nil
	})
	if info, ok := e.Info("NEW2"); !ok || info.PrevClose != 12.5 {
		t.Fatalf("Info(NEW2) = %+v, %v", info, ok)
	}
	c := newTestClient(e)
	mustSubscribe(t, e, c, "NEW1", "NEW2")
	e.Publish(testTick("NEW2", 1))
	waitDelivered(t, e, 2)
	var got []string
	for _, tk := range decodeAll(t, drainAll(c)) {
		got = append(got, fmt.Sprintf("%s/%d", tk.Symbol, tk.Seq))
	}
	if !slices.Equal(got, []string{"NEW1/1", "NEW2/1"}) { // NEW1's snapshot, NEW2 live
		t.Fatalf("subscriber got %q", got)
	}
	checkCounter(t, e.metrics.listed, 2)
	checkGauge(t, reg, "tickgate_universe_symbols", 2)
}

// TestListingCarriesPrevClose: a symbol a listing makes is never seen
// without the listing's previous close, not even while it is being
// listed; and a listing that meets its symbol's retirement on the way to
// the shard gives the new listing its previous close.
func TestListingCarriesPrevClose(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 2})
	const n = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			e.List(feed.Listing{Symbol: fmt.Sprintf("L%04d", i), PrevClose: 10})
		}
	}()
	for seen := 0; seen < n; {
		infos := e.Find("", 0, nil)
		for _, info := range infos {
			if info.PrevClose != 10 {
				t.Fatalf("%s listed with prev close 10 is seen with %v", info.Name, info.PrevClose)
			}
		}
		seen = len(infos)
	}
	<-done

	f := newUniverseFixture(t, Config{}, "IPO")
	s := f.e.lookup("IPO")
	f.e.List(feed.Listing{Symbol: "IPO", PrevClose: 9.5}) // sets it on s, and queues the listing
	f.deliver(inTick{sym: s, op: opDelist})               // a delisting queued before it
	f.deliver(inTick{sym: s, op: opList})
	if info, ok := f.e.Info("IPO"); !ok || info.PrevClose != 9.5 {
		t.Fatalf("relisted past its retirement: Info(IPO) = %+v, %v, want prev close 9.5", info, ok)
	}
}

func TestUniverseBounds(t *testing.T) {
	t.Parallel()
	e, reg := startEngine(t, Config{Shards: 2, MaxSymbols: 3, Pattern: regexp.MustCompile(`^[A-Z]{1,4}$`)}, "AAPL")
	for _, sym := range []string{"TOOLONG", "AB1", "MSFT", "NVDA", "AMZN", "GOOG"} {
		e.Publish(testTick(sym, 1))
	}
	e.List(feed.Listing{Symbol: "META"})                 // full
	e.List(feed.Listing{Symbol: "BRK.B"})                // outside the pattern
	e.List(feed.Listing{Symbol: "ZZZZ", Delisted: true}) // not listed
	waitDelivered(t, e, 2)
	if got := e.Symbols(); !slices.Equal(got, []string{"AAPL", "MSFT", "NVDA"}) {
		t.Fatalf("Symbols() = %q, want the first 3 valid ones", got)
	}
	checkDropped(t, reg, 0, 2, 2)
	exp := `
# HELP tickgate_feed_dropped_listings_total Listings and delistings from the feed that were not applied, by reason.
# TYPE tickgate_feed_dropped_listings_total counter
tickgate_feed_dropped_listings_total{reason="invalid"} 0
tickgate_feed_dropped_listings_total{reason="max_symbols"} 1
tickgate_feed_dropped_listings_total{reason="outside_pattern"} 1
tickgate_feed_dropped_listings_total{reason="unknown_symbol"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "tickgate_feed_dropped_listings_total"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{MaxSymbols: 1}, feed.Listed("A", "B"), reg); err == nil {
		t.Fatal("New took more symbols at start than MaxSymbols")
	}
	if _, err := New(Config{Pattern: regexp.MustCompile(`^A`)}, feed.Listed("B"), reg); err == nil {
		t.Fatal("New took a symbol outside the pattern")
	}
}

// TestDelistingRetires: a delisting, in feed order after the symbol's
// ticks, sends each subscriber of each of its topics, in both tiers, one
// retired notice after everything before it, and takes the symbol and its
// subscriptions out of the engine; its delay-line lane goes with it. A
// tick that was on its way lists the symbol again, afresh.
func TestDelistingRetires(t *testing.T) {
	t.Parallel()
	f := newUniverseFixture(t, Config{History: 16, BarHistory: 4, Delay: time.Minute}, "AAPL", "MSFT")
	ticks, bars, delayed, other := newTestClient(f.e), newTestClient(f.e), newTestClient(f.e), newTestClient(f.e)
	mustSubscribe(t, f.e, ticks, "AAPL", "MSFT")
	mustSubscribe(t, f.e, other, "MSFT")
	for _, p := range []struct {
		c *testClient
		p Policy
	}{{bars, Policy{Stream: Bars1s, Partial: true}}, {delayed, Policy{Delayed: true}}} {
		if _, err := f.e.Subscribe(p.c.Client, []string{"AAPL"}, p.p, nil); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(1); seq <= 3; seq++ {
		f.tick(testTick("AAPL", seq))
	}
	f.tick(testTick("MSFT", 1))
	if held, _ := f.e.delayHeld(); held != 4 {
		t.Fatalf("delay line holds %d ticks, want 4", held)
	}
	old := f.delist("AAPL")

	want := map[*testClient][]string{
		ticks:   {"#1", "#2", "#3", "#1", `{"type":"notice","code":"retired","sym":"AAPL","reason":"delisted"}`},
		bars:    {`{"type":"notice","code":"retired","stream":"bars.1s","sym":"AAPL","reason":"delisted"}`},
		delayed: {`{"type":"notice","code":"retired","sym":"AAPL","reason":"delisted"}`},
	}
	for c, w := range want {
		got := wire(t, c)
		if c == bars { // partial bars came before
			got = slices.DeleteFunc(got, func(s string) bool { return strings.Contains(s, `"partial":true`) })
		}
		if !slices.Equal(got, w) {
			t.Errorf("client got %q, want %q", got, w)
		}
	}
	// AAPL's bars were waiting for their progress slot to end: the slot
	// ends after the retirement, and sends nothing.
	s := f.e.shards[0]
	s.mu.Lock()
	waiting := slices.Contains(s.progress.topics, old.topics[Bars1s])
	s.progress.run(s, f.now+int64(time.Second))
	s.mu.Unlock()
	if !waiting {
		t.Fatal("AAPL's bars were not waiting for a progress update at their retirement")
	}
	if got := wire(t, bars); len(got) != 0 {
		t.Fatalf("the retired symbol's progress subscriber got %q", got)
	}
	if f.e.Known("AAPL") || !old.retired.Load() || old.delayed.retired.Load() != true {
		t.Fatal("AAPL still listed after its delisting")
	}
	if got := f.e.Subscriptions(); got != 2 {
		t.Fatalf("Subscriptions() = %d, want 2 (MSFT twice)", got)
	}
	if n := f.e.SubscriptionsOf(ticks.Client); n != 1 || !slices.Equal(f.e.SymbolsOf(ticks.Client, Ticks), []string{"MSFT"}) {
		t.Fatalf("ticks client holds %d: %q, want MSFT alone", n, f.e.SymbolsOf(ticks.Client, Ticks))
	}
	if held, _ := f.e.delayHeld(); held != 1 {
		t.Fatalf("delay line holds %d ticks, want MSFT's 1", held)
	}
	if _, err := f.e.Subscribe(ticks.Client, []string{"AAPL"}, Policy{}, nil); !errors.Is(err, ErrUnknownSymbol) {
		t.Fatalf("subscribe to a retired symbol: %v, want ErrUnknownSymbol", err)
	}
	checkCounter(t, f.e.metrics.retired[retiredDelisted], 1)
	checkCounter(t, f.e.metrics.retired[retiredIdle], 0)

	// A tick sent to the old symbol before the delisting was applied.
	tk := testTick("AAPL", 9)
	tk.Epoch = "relisted"
	f.deliver(inTick{sym: old, tick: tk})
	cur := f.e.lookup("AAPL")
	if cur == nil || cur == old {
		t.Fatal("a tick in flight did not list AAPL again as a new symbol")
	}
	if last, ok := f.e.Last("AAPL"); !ok || last.Seq != 9 {
		t.Fatalf("relisted AAPL's last tick %+v, want seq 9", last)
	}
	if got := wire(t, ticks); len(got) != 0 {
		t.Fatalf("the retired symbol's subscriber got %q from its new listing", got)
	}
	f.delist("AAPL")
	f.delist("MSFT")
	if got := f.e.Subscriptions(); got != 0 || len(f.e.shards[0].syms) != 0 {
		t.Fatalf("after every delisting: %d subscriptions, %d symbols on the shard", got, len(f.e.shards[0].syms))
	}
}

// TestRelistingEpochs: a symbol listed again is new: a since from its old
// listing is recovered only if the feed carries the old run on, and a
// new run is a snapshot, like any restart.
func TestRelistingEpochs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		epoch   string
		seq     uint64
		recover bool
	}{{"a", 4, true}, {"b", 1, false}} {
		f := newUniverseFixture(t, Config{History: 16})
		for seq := uint64(1); seq <= 3; seq++ {
			tk := testTick("IPO", seq)
			tk.Epoch = "a"
			f.tick(tk)
		}
		f.delist("IPO")
		tk := testTick("IPO", tc.seq)
		tk.Epoch = tc.epoch
		f.tick(tk)
		c := newTestClient(f.e)
		res, err := f.e.Subscribe(c.Client, []string{"IPO"}, Policy{Since: map[string]Position{"IPO": {Seq: 3, Epoch: "a"}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := len(res.Recovered) == 1; got != tc.recover {
			t.Errorf("relisted in epoch %s from seq %d: recovered %v, want %v", tc.epoch, tc.seq, res.Recovered, tc.recover)
		}
	}
}

func TestIdleRetire(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 2, RetireAfter: 100 * time.Millisecond}, "BUSY", "QUIET")
	c := newTestClient(e)
	mustSubscribe(t, e, c, "QUIET")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for seq := uint64(1); ; seq++ {
			e.Publish(testTick("BUSY", seq))
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	})
	defer func() { close(stop); wg.Wait() }()
	checkFor(t, 5*time.Second, func() error {
		// Retired, and its subscriber told: the count drops after the notice is queued.
		if e.Known("QUIET") || e.Subscriptions() != 0 {
			return errors.New("QUIET still listed, or its subscription still counted")
		}
		return nil
	})
	if !e.Known("BUSY") {
		t.Fatal("BUSY, ticking every 10ms, was retired for idleness")
	}
	got := wire(t, c)
	if want := `{"type":"notice","code":"retired","sym":"QUIET","reason":"idle"}`; !slices.Equal(got, []string{want}) {
		t.Fatalf("QUIET's subscriber got %q, want %s", got, want)
	}
}

// TestTableRebuilds lists and retires past several rebuilds of the table
// and checks every lookup against what should be listed.
func TestTableRebuilds(t *testing.T) {
	t.Parallel()
	f := newUniverseFixture(t, Config{})
	want := map[string]bool{}
	for i := range 600 {
		sym := fmt.Sprintf("S%d", i)
		f.tick(testTick(sym, 1))
		want[sym] = true
		if i%3 == 0 {
			f.delist(fmt.Sprintf("S%d", i/2))
			want[fmt.Sprintf("S%d", i/2)] = false
		}
	}
	var listed []string
	for i := range 600 {
		sym := fmt.Sprintf("S%d", i)
		if f.e.Known(sym) != want[sym] {
			t.Fatalf("Known(%s) = %v, want %v", sym, !want[sym], want[sym])
		}
		if want[sym] {
			listed = append(listed, sym)
		}
	}
	if got := f.e.Symbols(); !slices.Equal(got, listed) {
		t.Fatalf("Symbols() = %d symbols, want %d in listing order", len(got), len(listed))
	}
	if n := f.e.u.live.Load(); n != int64(len(listed)) || len(f.e.shards[0].syms) != len(listed) {
		t.Fatalf("live %d, shard holds %d, want %d", n, len(f.e.shards[0].syms), len(listed))
	}
	if stale := len(f.e.u.tab.Load().order) - len(listed); stale >= mergeAt(len(listed))+1 {
		t.Fatalf("%d retired symbols kept in the table, more than a rebuild allows", stale)
	}
	if got := f.e.Find("S1", 3, nil); len(got) != 3 || !strings.HasPrefix(got[0].Name, "S1") {
		t.Fatalf("Find(S1, 3) = %+v", got)
	}
}

// TestSubscribeRacesRetire subscribes and unsubscribes while the symbol is
// delisted and listed again: every subscribe either succeeds or answers
// ErrUnknownSymbol, and the subscription count ends where the clients say.
func TestSubscribeRacesRetire(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 2}, "FLIP", "KEEP")
	clients := []*testClient{newTestClient(e), newTestClient(e), newTestClient(e)}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for range 300 {
				_, err := e.Subscribe(c.Client, []string{"KEEP", "FLIP"}, Policy{}, nil)
				if err != nil && !errors.Is(err, ErrUnknownSymbol) {
					t.Error(err)
					return
				}
				e.Unsubscribe(c.Client, Ticks, []string{"FLIP"})
				c.Drain(nil, 1<<20)
			}
		})
	}
	for seq := uint64(1); seq <= 300; seq++ {
		e.List(feed.Listing{Symbol: "FLIP", Delisted: true})
		e.Publish(testTick("FLIP", seq))
	}
	wg.Wait()
	total := 0
	for _, c := range clients {
		total += e.SubscriptionsOf(c.Client)
	}
	checkFor(t, 5*time.Second, func() error {
		if got := e.Subscriptions(); got != int64(total) {
			return fmt.Errorf("Subscriptions() = %d, clients hold %d", got, total)
		}
		return nil
	})
}

// BenchmarkListing is the cost of listing 1,000 new symbols on an engine
// already carrying 10,000 or 50,000: the table's share (copy of its
// recent part, a share of its rebuilds) and the symbols themselves. Its
// copy=all pair copies the whole table per listing instead, as a plain
// copy-on-write map would: what the two-part table saves.
func BenchmarkListing(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		syms := make([]string, n)
		for i := range syms {
			syms[i] = fmt.Sprintf("S%05d", i)
		}
		for _, all := range []bool{false, true} {
			b.Run(fmt.Sprintf("universe=%d/copy=%s", n, map[bool]string{false: "recent", true: "all"}[all]), func(b *testing.B) {
				e, _ := newEngine(b, Config{MaxSymbols: n + 1000}, syms...)
				base := e.u.tab.Load()
				b.ReportAllocs()
				for b.Loop() {
					for i := range 1000 {
						if all {
							e.u.tab.Store(&table{base: maps.Clone(e.u.tab.Load().base), order: base.order})
						}
						if sym, _ := e.listOne(fmt.Sprintf("N%04d", i), 0); sym == nil {
							b.Fatal("refused")
						}
					}
					b.StopTimer()
					e.u.tab.Store(base)
					e.u.live.Store(int64(n))
					e.u.changes = 0
					b.StartTimer()
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/listing")
			})
		}
	}
}
