package sim

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// receiver is a DepthSink that does what a gateway must: applies every
// book message to its own copy of each symbol's book, follows each
// symbol's status, and checks, at every message, what the feed promises.
// It reports the first broken promise in err.
type receiver struct {
	src    *Source // the sim's own books, compared at each book message
	depth  int
	books  map[string]*refBook
	status map[string]feed.Status
	ticks  map[string]uint64 // last tick seq
	n      struct{ ticks, books, snapshots, status int }
	err    error
}

// refBook is a receiver's copy of one book, price → size per side.
type refBook struct {
	seq        uint64
	bids, asks map[float64]int64
}

func newReceiver(src *Source, depth int) *receiver {
	return &receiver{src: src, depth: depth, books: map[string]*refBook{}, status: map[string]feed.Status{}, ticks: map[string]uint64{}}
}

func (r *receiver) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
}

func (r *receiver) Publish(t feed.Tick) {
	r.n.ticks++
	if err := t.Validate(); err != nil {
		r.fail("tick %+v: %v", t, err)
	}
	if st, ok := r.status[t.Symbol]; !ok || st.Status != feed.StatusOpen {
		r.fail("tick %+v while the symbol's status is %+v", t, st)
	}
	b := r.books[t.Symbol]
	if b == nil {
		r.fail("tick %+v before any book of its symbol", t)
		return
	}
	bids, asks := b.sorted()
	switch {
	case len(bids) == 0 || len(asks) == 0:
		r.fail("tick %+v with a one-sided book %v %v", t, bids, asks)
	case t.Bid != bids[0].Price || t.Ask != asks[0].Price:
		r.fail("tick %+v: bid/ask not the book's best %v/%v", t, bids[0], asks[0])
	case t.Price == t.Bid && t.Size > bids[0].Size, t.Price == t.Ask && t.Size > asks[0].Size:
		r.fail("tick %+v: trades more than rests at the touch %v/%v", t, bids[0], asks[0])
	case t.Price != t.Bid && t.Price != t.Ask:
		r.fail("tick %+v: not at the touch", t)
	}
	if t.Seq != r.ticks[t.Symbol]+1 && r.ticks[t.Symbol] != 0 {
		r.fail("tick %+v after seq %d", t, r.ticks[t.Symbol])
	}
	r.ticks[t.Symbol] = t.Seq
}

func (r *receiver) PublishBook(m feed.Book) {
	r.n.books++
	if err := m.Validate(); err != nil {
		r.fail("book %+v: %v", m, err)
		return
	}
	b := r.books[m.Symbol]
	switch {
	case b == nil && !m.Snapshot:
		r.fail("book %s seq %d: an update before any snapshot", m.Symbol, m.Seq)
		return
	case b == nil:
		b = &refBook{seq: m.Seq - 1}
		r.books[m.Symbol] = b
	case m.Seq != b.seq+1:
		r.fail("book %s seq %d after %d", m.Symbol, m.Seq, b.seq)
	}
	b.seq = m.Seq
	if m.Snapshot {
		r.n.snapshots++
		b.bids, b.asks = map[float64]int64{}, map[float64]int64{}
	}
	for _, side := range []struct {
		levels []feed.Level
		into   map[float64]int64
	}{{m.Bids, b.bids}, {m.Asks, b.asks}} {
		for _, l := range side.levels {
			if l.Size == 0 {
				if _, ok := side.into[l.Price]; !ok {
					r.fail("book %s seq %d removes %v, which it does not have", m.Symbol, m.Seq, l.Price)
				}
				delete(side.into, l.Price)
			} else {
				side.into[l.Price] = l.Size
			}
		}
	}
	r.checkBook(m)
}

// checkBook checks the receiver's book of m.Symbol after m: within depth,
// not crossed, and the sim's own book, checksum and all.
func (r *receiver) checkBook(m feed.Book) {
	bids, asks := r.books[m.Symbol].sorted()
	if len(bids) > r.depth || len(asks) > r.depth {
		r.fail("book %s seq %d: %d bids, %d asks, past depth %d", m.Symbol, m.Seq, len(bids), len(asks), r.depth)
	}
	if len(bids) > 0 && len(asks) > 0 && bids[0].Price >= asks[0].Price {
		r.fail("book %s seq %d: crossed, %v >= %v", m.Symbol, m.Seq, bids[0], asks[0])
	}
	if m.Epoch != r.src.syms[slices.Index(r.src.names, m.Symbol)].epoch {
		r.fail("book %s seq %d: epoch %q, not its ticks'", m.Symbol, m.Seq, m.Epoch)
	}
	own := r.src.books[slices.Index(r.src.names, m.Symbol)]
	wantBids, wantAsks := appendLevels(nil, own.bids), appendLevels(nil, own.asks)
	if !slices.Equal(bids, wantBids) || !slices.Equal(asks, wantAsks) {
		r.fail("book %s seq %d: applied %v | %v, the sim has %v | %v", m.Symbol, m.Seq, bids, asks, wantBids, wantAsks)
	}
	if got, want := feed.Checksum(bids, asks), feed.Checksum(wantBids, wantAsks); got != want {
		r.fail("book %s seq %d: checksum %d, the sim's book's %d", m.Symbol, m.Seq, got, want)
	}
}

func (r *receiver) PublishStatus(st feed.Status) {
	r.n.status++
	if err := st.Validate(); err != nil {
		r.fail("status %+v: %v", st, err)
	}
	prev, ok := r.status[st.Symbol]
	next := map[string]string{feed.StatusOpen: feed.StatusHalted, feed.StatusHalted: feed.StatusAuction, feed.StatusAuction: feed.StatusOpen}
	switch {
	case !ok && st.Status != feed.StatusOpen:
		r.fail("first status %+v, want open", st)
	case ok && st.Seq != prev.Seq+1:
		r.fail("status %+v after seq %d", st, prev.Seq)
	case ok && next[prev.Status] != st.Status:
		r.fail("status %s after %s", st.Status, prev.Status)
	case st.Status == feed.StatusHalted && st.Reason != pauseReason && st.Reason != newsReason:
		r.fail("halt %+v without a known reason", st)
	}
	r.status[st.Symbol] = st
}

// sorted returns the book's sides best first.
func (b *refBook) sorted() (bids, asks []feed.Level) {
	side := func(m map[float64]int64, desc bool) []feed.Level {
		out := make([]feed.Level, 0, len(m))
		for _, px := range slices.Sorted(maps.Keys(m)) {
			out = append(out, feed.Level{Price: px, Size: m[px]})
		}
		if desc {
			slices.Reverse(out)
		}
		return out
	}
	return side(b.bids, true), side(b.asks, false)
}

// TestBookConsistent is the property test of the simulated book: over
// many turns, for several depths, churns and seeds, with halts, every
// message is valid, seqs run on by one, and a receiver that applies every
// message from the first snapshot holds the sim's book (and its checksum)
// after each one, within depth and never crossed; every trade is at the
// touch the receiver's book shows.
func TestBookConsistent(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		depth int
		churn float64
		seed  uint64
	}{{10, 0.25, 1}, {1, 0.5, 2}, {3, 1, 3}, {10, 0, 4}, {50, 0.5, 5}} {
		t.Run(fmt.Sprintf("depth%d_churn%g", c.depth, c.churn), func(t *testing.T) {
			t.Parallel()
			s := newSource(t, Config{Seed: c.seed, Book: true, Depth: c.depth, Churn: c.churn, HaltsPerHour: 100, HaltDuration: time.Second,
				Symbols: []string{"AAPL", "BRK.B", "PENNY", "BKNG"},
				Resume:  []feed.Tick{{Symbol: "PENNY", Seq: 9, Price: 0.04, Bid: 0.03, Ask: 0.05, TS: 1, Epoch: "old"}}})
			r := newReceiver(s, c.depth)
			out := newOutlet(r, c.depth)
			s.start(1, out)
			for i := range 40_000 {
				s.step(int64(i+2), out)
				if r.err != nil {
					t.Fatalf("turn %d: %v", i, r.err)
				}
			}
			if r.n.ticks == 0 || r.n.books < len(s.syms) || r.n.status <= len(s.syms) {
				t.Fatalf("%+v: want ticks, books and halts", r.n)
			}
			t.Logf("%d ticks, %d book messages (%d snapshots), %d status", r.n.ticks, r.n.books, r.n.snapshots, r.n.status)
		})
	}
}

// TestBookSameTicksAnySink checks that the ticks do not depend on whether
// the sink takes books: the model runs the same, only its messages are
// left out.
func TestBookSameTicksAnySink(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 9, Book: true, Churn: 0.5, HaltsPerHour: 50, Epoch: "e"}
	a, b := newSource(t, cfg), newSource(t, cfg)
	withBooks, plain := newReceiver(a, 10), &tickList{}
	outA, outB := newOutlet(withBooks, 10), newOutlet(plain, 10)
	var ticks []feed.Tick
	onTick := &tickList{}
	outA.sink = onTick // ticks to the list; books and status still to the receiver
	for i := range 20_000 {
		a.step(int64(i+1), outA)
		b.step(int64(i+1), outB)
	}
	ticks = onTick.ticks
	if len(ticks) < 10_000 || !slices.Equal(ticks, plain.ticks) {
		t.Fatalf("%d ticks with a DepthSink, %d with a plain Sink, or they differ", len(ticks), len(plain.ticks))
	}
	if withBooks.n.books == 0 {
		t.Fatal("no books reached the DepthSink")
	}
}

// tickList is a plain Sink that keeps every tick.
type tickList struct{ ticks []feed.Tick }

func (l *tickList) Publish(t feed.Tick) { l.ticks = append(l.ticks, t) }

// TestBookSnapshotRule checks a snapshot comes first, then after
// snapshotEvery messages, and after snapshotAge of feed time.
func TestBookSnapshotRule(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Seed: 1, Book: true, Churn: 1, Symbols: []string{"ONLY"}})
	var seqs []uint64
	rec := &bookLog{onBook: func(m feed.Book) {
		if m.Snapshot {
			seqs = append(seqs, m.Seq)
		}
	}}
	out := newOutlet(rec, 10)
	s.start(1, out)
	for range 2000 {
		s.step(1, out)
	}
	if len(seqs) < 3 || seqs[0] != 1 || seqs[1] != 1+snapshotEvery || seqs[2] != 1+2*snapshotEvery {
		t.Fatalf("snapshots at seqs %v, want 1, %d, %d, ...", seqs, 1+snapshotEvery, 1+2*snapshotEvery)
	}
	seqs = nil
	last := s.books[0].seq
	for range 100 {
		s.step(1+snapshotAge, out)
	}
	if len(seqs) != 1 || seqs[0] != last+1 {
		t.Fatalf("after %v of feed time, snapshots at %v, want one, the next message (%d)", time.Duration(snapshotAge), seqs, last+1)
	}
}

// bookLog is a DepthSink that hands books to onBook and drops the rest.
type bookLog struct{ onBook func(feed.Book) }

func (l *bookLog) Publish(feed.Tick)         {}
func (l *bookLog) PublishBook(m feed.Book)   { l.onBook(m) }
func (l *bookLog) PublishStatus(feed.Status) {}

// TestHalts checks halts come and go at about the configured rate and
// length, in feed time (turns / rate), and that no trade happens while a
// symbol is not open.
func TestHalts(t *testing.T) {
	t.Parallel()
	const rate, turns = 1000.0, 2_000_000 // 2000 s of feed time
	s := newSource(t, Config{Seed: 2, Rate: rate, Symbols: []string{"A", "B"}, HaltsPerHour: 36, HaltDuration: 5 * time.Second})
	r := newReceiver(s, 10)
	var halts int
	var closed float64 // seconds from a halt to its reopening
	haltedAt := map[string]int64{}
	out := newOutlet(&statusOnly{r: r, onStatus: func(st feed.Status) {
		switch st.Status {
		case feed.StatusHalted:
			halts++
			haltedAt[st.Symbol] = st.TS
		case feed.StatusOpen:
			if at, ok := haltedAt[st.Symbol]; ok {
				closed += float64(st.TS-at) / rate
			}
		}
	}}, 10)
	s.start(1, out)
	for i := range turns {
		s.step(int64(i+2), out)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	// 2000 s × 2 symbols × 36/h = 40 halts expected, each 5 s halted and 1 s
	// in its auction.
	if halts < 20 || halts > 70 {
		t.Errorf("%d halts in 2000 s of 2 symbols at 36/h, want about 40", halts)
	}
	if mean := closed / float64(halts); mean < 4 || mean > 8.5 {
		t.Errorf("halts lasted %.1f s on average to the reopening, want about 6", mean)
	}
}

// statusOnly hands statuses to a receiver, and to onStatus, and checks
// that no tick comes while its symbol is not open.
type statusOnly struct {
	r        *receiver
	onStatus func(feed.Status)
}

func (s *statusOnly) Publish(t feed.Tick) {
	if st := s.r.status[t.Symbol]; st.Status != feed.StatusOpen {
		s.r.fail("tick %+v while %s", t, st.Status)
	}
}
func (s *statusOnly) PublishBook(feed.Book) {}
func (s *statusOnly) PublishStatus(st feed.Status) {
	s.r.PublishStatus(st)
	s.onStatus(st)
}

// TestRunStartsWithStatusAndSnapshots runs the feed into a DepthSink: each
// symbol's open status and book snapshot come before any tick.
func TestRunStartsWithStatusAndSnapshots(t *testing.T) {
	t.Parallel()
	syms := []string{"AAA", "BBB", "CCC"}
	s := newSource(t, Config{Rate: 1000, Book: true, Churn: 0.25, Symbols: syms})
	rec := &runLog{}
	runFor(t, s, rec, 200*time.Millisecond, 2*time.Second)
	if len(rec.kinds) < 2*len(syms)+1 {
		t.Fatalf("%d messages, want the start's %d and ticks", len(rec.kinds), 2*len(syms))
	}
	for i := range syms {
		if rec.kinds[2*i] != "status "+syms[i]+" 1 open" || rec.kinds[2*i+1] != "book "+syms[i]+" 1 snapshot" {
			t.Fatalf("messages %v: want each symbol's status then snapshot first", rec.kinds[:2*len(syms)])
		}
	}
	if !slices.ContainsFunc(rec.kinds, func(k string) bool { return k[:4] == "tick" }) {
		t.Fatal("no tick")
	}
}

// runLog is a DepthSink that notes what it got, in order. Run calls it
// from its goroutine; the test reads it after Run returned.
type runLog struct{ kinds []string }

func (l *runLog) Publish(t feed.Tick) { l.kinds = append(l.kinds, "tick "+t.Symbol) }
func (l *runLog) PublishBook(m feed.Book) {
	kind := "update"
	if m.Snapshot {
		kind = "snapshot"
	}
	l.kinds = append(l.kinds, fmt.Sprintf("book %s %d %s", m.Symbol, m.Seq, kind))
}
func (l *runLog) PublishStatus(st feed.Status) {
	l.kinds = append(l.kinds, fmt.Sprintf("status %s %d %s", st.Symbol, st.Seq, st.Status))
}

// TestResumeDepth carries a symbol's book and status seqs on from an
// earlier run, in its epoch.
func TestResumeDepth(t *testing.T) {
	t.Parallel()
	last := feed.Tick{Symbol: "BBB", Seq: 41, Price: 50, Bid: 49.99, Ask: 50.01, TS: 1, Epoch: "old"}
	s := newSource(t, Config{Symbols: []string{"AAA", "BBB"}, Epoch: "new", Book: true, Resume: []feed.Tick{last},
		ResumeBooks:  []feed.Book{{Symbol: "BBB", Seq: 700, Epoch: "old"}},
		ResumeStatus: []feed.Status{{Symbol: "BBB", Seq: 5, Epoch: "old"}}})
	rec := &runLog{}
	s.start(1, newOutlet(rec, 10))
	want := []string{"status AAA 1 open", "book AAA 1 snapshot", "status BBB 6 open", "book BBB 701 snapshot"}
	if !slices.Equal(rec.kinds, want) {
		t.Fatalf("start sent %v, want %v", rec.kinds, want)
	}
	for _, cfg := range []Config{
		{Symbols: []string{"BBB"}, Book: true, Resume: []feed.Tick{last}, ResumeBooks: []feed.Book{{Symbol: "BBB", Seq: 7, Epoch: "other"}}},
		{Symbols: []string{"AAA", "BBB"}, Book: true, Resume: []feed.Tick{last}, ResumeStatus: []feed.Status{{Symbol: "AAA", Seq: 7}}},
		{Symbols: []string{"BBB"}, Resume: []feed.Tick{last}, ResumeStatus: []feed.Status{{Symbol: "BBB", Seq: 7, Epoch: "old"}, {Symbol: "BBB", Seq: 8, Epoch: "old"}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted a book or status resume that does not match the tick's", cfg)
		}
	}
}

// TestDepthConfigRejects checks the depth fields' limits.
func TestDepthConfigRejects(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{{Depth: -1}, {Depth: maxDepth + 1}, {Churn: 1.5}, {Churn: -0.1}, {HaltsPerHour: -1}, {HaltsPerHour: maxHalts + 1}, {HaltDuration: -time.Second}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

// discardDepth is a DepthSink that drops everything, for the allocation
// test and the benchmarks.
type discardDepth struct{}

func (discardDepth) Publish(feed.Tick)         {}
func (discardDepth) PublishBook(feed.Book)     {}
func (discardDepth) PublishStatus(feed.Status) {}

// discardTicks is a plain Sink that drops everything.
type discardTicks struct{}

func (discardTicks) Publish(feed.Tick) {}

func TestStepAllocs(t *testing.T) {
	for _, cfg := range []Config{{}, {Book: true, Churn: 0.5, HaltsPerHour: 100, HaltDuration: time.Second}} {
		s := newSource(t, cfg)
		out := newOutlet(discardDepth{}, s.depth)
		s.start(1, out)
		for range 10_000 { // past every symbol's first update
			s.step(2, out)
		}
		if n := testing.AllocsPerRun(10_000, func() { s.step(2, out) }); n != 0 {
			t.Errorf("%+v: step allocates %v times per turn, want 0", cfg, n)
		}
	}
}

// BenchmarkStep measures a turn of the feed: ticks alone (books off, as
// BenchmarkNext but through step), books into a DepthSink, and books
// modelled but not sent (a plain Sink).
func BenchmarkStep(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  Config
		sink feed.Sink
	}{
		{"ticks", Config{}, discardTicks{}},
		{"book", Config{Book: true, Churn: 0.25}, discardDepth{}},
		{"book_plain_sink", Config{Book: true, Churn: 0.25}, discardTicks{}},
		{"book_halts", Config{Book: true, Churn: 0.25, HaltsPerHour: 2}, discardDepth{}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := newSource(b, c.cfg)
			out := newOutlet(c.sink, s.depth)
			s.start(1, out)
			b.ReportAllocs()
			for b.Loop() {
				s.step(1, out)
			}
		})
	}
}

// TestRunDepthSinkStops checks Run with books and halts into a DepthSink
// stops with its context, as with ticks alone.
func TestRunDepthSinkStops(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Rate: 50_000, Book: true, Churn: 1, HaltsPerHour: 100})
	r := newReceiver(s, 10)
	runFor(t, s, r, 300*time.Millisecond, 3*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.n.ticks == 0 || r.n.books == 0 {
		t.Fatalf("%+v: want ticks and books", r.n)
	}
}
