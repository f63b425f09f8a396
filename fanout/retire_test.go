package fanout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/depthtest"
)

// depthFixture is a universeFixture that also sends books and statuses,
// each symbol's book from a generator of its own.
type depthFixture struct {
	*universeFixture
	gens map[string]*depthtest.Gen
	seqs map[string]uint64 // the last status seq sent of each symbol
}

func newDepthFixture(t *testing.T, cfg Config, syms ...string) *depthFixture {
	t.Helper()
	return &depthFixture{universeFixture: newUniverseFixture(t, cfg, syms...), gens: map[string]*depthtest.Gen{}, seqs: map[string]uint64{}}
}

// depth hands d, a book or status of sym, to the shard as PublishBook or
// PublishStatus would: a symbol not listed is listed by it.
func (f *depthFixture) depth(sym string, d *inDepth) {
	f.t.Helper()
	s := f.e.lookup(sym)
	if s == nil {
		if s = f.e.listFor(sym, d.fed(), 0); s == nil {
			f.t.Fatalf("%s refused", sym)
		}
	}
	f.deliver(inTick{sym: s, op: opDepth, depth: d})
}

// book sends sym's next book message: its first a snapshot, then
// updates.
func (f *depthFixture) book(sym string) {
	g := f.gens[sym]
	var b feed.Book
	if g == nil {
		g = depthtest.NewGen(sym, 10, uint64(len(f.gens)+1))
		f.gens[sym] = g
		b = g.Snapshot()
	} else {
		b = g.Update()
	}
	b.TS = f.now
	f.depth(sym, &inDepth{kind: depthBook, book: b})
}

// status sends sym's next trading status, st.
func (f *depthFixture) status(sym, st string) {
	f.seqs[sym]++
	reason := ""
	if st == feed.StatusHalted {
		reason = "LUDP"
	}
	f.depth(sym, &inDepth{kind: depthStatus, status: feed.Status{Symbol: sym, Status: st, Reason: reason, Seq: f.seqs[sym], TS: f.now}})
}

// traffic sends n rounds of a tick, a book message and, every tenth, a
// status change of each of syms, checking the budget's counts after
// each.
func (f *depthFixture) traffic(n int, syms ...string) {
	for i := range n {
		for _, sym := range syms {
			tk := testTick(sym, uint64(i+1))
			tk.TS = f.now
			f.tick(tk)
			f.book(sym)
			if i%10 == 0 {
				f.status(sym, []string{feed.StatusOpen, feed.StatusHalted}[i/10%2])
			}
			checkBudget(f.t, f.e)
		}
	}
}

// TestRetireBookAndStatus: a delisted symbol's subscribers on every
// stream, book and status included and in both tiers, each get one
// retired notice naming the stream, after what was queued before it, and
// nothing of the symbol after; the book and status go with it, and a
// listing by a book message starts the symbol again with neither.
func TestRetireBookAndStatus(t *testing.T) {
	t.Parallel()
	f := newDepthFixture(t, Config{History: 16, Delay: time.Hour}, "AAPL")
	f.traffic(3, "AAPL")
	clients := map[string]*testClient{}
	for _, st := range Streams() {
		for _, delayed := range []bool{false, true} {
			c := newTestClient(f.e)
			if _, err := f.e.Subscribe(c.Client, []string{"AAPL"}, Policy{Stream: st, Delayed: delayed}, nil); err != nil {
				t.Fatal(err)
			}
			drainAll(c)
			clients[fmt.Sprintf("%s/%v", st, delayed)] = c
		}
	}
	old := f.delist("AAPL")
	f.traffic(1, "MSFT") // a bystander: nothing of it reaches AAPL's subscribers
	for name, c := range clients {
		st, _, _ := strings.Cut(name, "/")
		stream := ""
		if st != "ticks" {
			stream = `,"stream":"` + st + `"`
		}
		want := `{"type":"notice","code":"retired"` + stream + `,"sym":"AAPL","reason":"delisted"}`
		if got := wire(t, c); !slices.Equal(got, []string{want}) {
			t.Errorf("%s: got %q, want %s alone", name, got, want)
		}
	}
	for _, tier := range [2]*symbol{old, old.delayed} {
		if tier.book != nil || tier.status.current() != "" {
			t.Fatalf("retired tier %s keeps its book (%+v) or status %q", tier.mark, tier.book, tier.status.current())
		}
	}
	if got := f.e.Subscriptions(); got != 0 {
		t.Fatalf("Subscriptions() = %d after the delisting, want 0", got)
	}

	f.gens["AAPL"] = nil // the relisted symbol's feed starts with a snapshot
	f.book("AAPL")
	cur := f.e.lookup("AAPL")
	if cur == nil || cur == old {
		t.Fatal("a book message did not list AAPL again")
	}
	c := newTestClient(f.e)
	if _, err := f.e.Subscribe(c.Client, []string{"AAPL"}, Policy{Stream: Status}, nil); err != nil {
		t.Fatal(err)
	}
	if got := wire(t, c); len(got) != 0 {
		t.Fatalf("the relisted symbol, which has not ticked, has a status: %q", got)
	}
	if !cur.book.valid || cur.book.seen != 1 {
		t.Fatalf("the relisted symbol's book: valid %v at seq %d, want its first snapshot", cur.book.valid, cur.book.seen)
	}
}

// TestRetireGivesBudgetBack: retiring symbols gives back everything they
// kept, through the budget's one call for it: after each retirement the
// budget's counts are exactly what the remaining rings, book logs and
// delay-line lanes (held books' and statuses' payloads included) hold,
// and once every symbol is retired the shard keeps nothing.
func TestRetireGivesBudgetBack(t *testing.T) {
	t.Parallel()
	syms := []string{"AAA", "BBB", "CCC", "DDD"}
	f := newDepthFixture(t, Config{History: 64, BarHistory: 8, Delay: time.Hour}, syms...)
	c := newTestClient(f.e)
	for _, st := range Streams() {
		if _, err := f.e.Subscribe(c.Client, syms[:2], Policy{Stream: st}, nil); err != nil {
			t.Fatal(err)
		}
	}
	f.traffic(40, syms...)
	s := f.e.shards[0]
	if held, _ := f.e.delayHeld(); held == 0 || s.budget.used[keptBooks] == 0 || s.budget.used[keptDelay] == 0 {
		t.Fatalf("the test wants books and held messages kept: %v, %d held", s.budget.used, held)
	}
	for i, sym := range syms {
		before := s.budget.total
		f.delist(sym)
		checkBudget(t, f.e)
		if s.budget.total >= before {
			t.Fatalf("retiring %s gave nothing back: %d → %d bytes", sym, before, s.budget.total)
		}
		if n := len(s.syms); n != len(syms)-1-i {
			t.Fatalf("%d symbols on the shard after retiring %d of %d", n, i+1, len(syms))
		}
	}
	held, lineBytes := f.e.delayHeld()
	if s.budget.total != 0 || s.budget.used != [numKinds]int64{} || len(s.budget.victims) != 0 || held != 0 || lineBytes != 0 {
		t.Fatalf("every symbol retired: the budget counts %v (%d victims), the line %d held in %d bytes", s.budget.used, len(s.budget.victims), held, lineBytes)
	}
	s.budget.publish()
	for k, n := range f.e.kept() {
		if n != 0 {
			t.Fatalf("tickgate_memory_kept_bytes{kind=%q} = %d with nothing listed", keptKind(k), n)
		}
	}
}

// TestListedByBookOrStatus: a book or status of a symbol not listed lists
// it, as a tick does; past the universe's bounds it is dropped and
// counted on its own counter.
func TestListedByBookOrStatus(t *testing.T) {
	t.Parallel()
	e, reg := startEngine(t, Config{Shards: 2, MaxSymbols: 3}, "AAPL")
	g := depthtest.NewGen("BOOK", 10, 1)
	e.PublishBook(g.Snapshot())
	e.PublishStatus(feed.Status{Symbol: "HALT", Status: feed.StatusHalted, Reason: "T1", Seq: 1, TS: baseTS})
	full := depthtest.NewGen("FULL", 10, 2)
	e.PublishBook(full.Snapshot())
	e.PublishStatus(feed.Status{Symbol: "FULL", Status: feed.StatusOpen, Seq: 1, TS: baseTS})
	e.Sync()
	if got := e.Symbols(); !slices.Equal(got, []string{"AAPL", "BOOK", "HALT"}) {
		t.Fatalf("Symbols() = %q, want AAPL, then those listed by a book and a status", got)
	}
	c := newTestClient(e)
	if _, err := e.Subscribe(c.Client, []string{"HALT"}, Policy{Stream: Status}, nil); err != nil {
		t.Fatal(err)
	}
	if got := statusesOf(t, c); !slices.Equal(got, []string{"halted/1/T1"}) {
		t.Fatalf("HALT's status subscriber got %q, want its feed status", got)
	}
	for _, k := range []feed.Kind{feed.KindBook, feed.KindStatus} {
		if got := testutil.ToFloat64(e.metrics.refused[k][refusedMax]); got != 1 {
			t.Errorf("refused %d of kind %d for max_symbols, want FULL's 1", int(got), k)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "tickgate_feed_dropped_books_total"); err != nil || n != 8 {
		t.Errorf("tickgate_feed_dropped_books_total: %d series (%v), want the 6 book reasons and the universe's 2", n, err)
	}
}

// TestLazyTopics: a symbol's book and status topics are made only when
// first fed or subscribed to, and counted in the budget then: ticks make
// neither; a status the feed sends before anyone subscribes makes no
// topic, yet a later subscriber gets it as its snapshot and the changes
// after it; a book message makes the book topic with the book. Retiring
// the symbols gives all of it back.
func TestLazyTopics(t *testing.T) {
	t.Parallel()
	f := newDepthFixture(t, Config{History: 16, Delay: time.Hour}, "AAPL", "MSFT")
	for _, sym := range []string{"AAPL", "MSFT"} {
		f.tick(testTick(sym, 1))
	}
	f.status("AAPL", feed.StatusHalted)
	checkBudget(t, f.e)
	lazy := func(sym string) (book, status bool) {
		s := f.e.lookup(sym)
		return s.topics[Book] != nil, s.topics[Status] != nil
	}
	for _, sym := range []string{"AAPL", "MSFT"} {
		if book, status := lazy(sym); book || status {
			t.Fatalf("%s: book topic %v, status topic %v after ticks and a status, want neither", sym, book, status)
		}
	}
	want := listedBytes(f.e.cfg, "AAPL", "MSFT")
	if got := f.e.shards[0].budget.used[keptSymbols]; got != want {
		t.Fatalf("symbols count %d bytes, want %d", got, want)
	}

	c := newTestClient(f.e)
	subscribeStatus(t, f.e, c, 0)
	expectStatuses(t, c, "halted/1/LUDP")
	f.status("AAPL", feed.StatusOpen)
	expectStatuses(t, c, "open/2")
	f.book("MSFT")
	checkBudget(t, f.e)
	if book, status := lazy("AAPL"); book || !status {
		t.Fatalf("AAPL: book topic %v, status topic %v, want the status topic only", book, status)
	}
	if book, status := lazy("MSFT"); !book || status {
		t.Fatalf("MSFT: book topic %v, status topic %v, want the book topic only", book, status)
	}
	f.delist("AAPL")
	f.delist("MSFT")
	if b := &f.e.shards[0].budget; b.total != 0 {
		t.Fatalf("after the delistings the budget counts %v", b.used)
	}
}
