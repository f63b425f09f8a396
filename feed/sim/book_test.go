package sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/booktest"
)

// newReceiver returns a booktest.Receiver of src's books of depth, which
// also checks, at each book message, that the book it applied is the
// sim's own, checksum and all, and of its symbol's epoch.
func newReceiver(src *Source, depth int) *booktest.Receiver {
	r := booktest.NewReceiver(depth)
	r.OnBook = func(m feed.Book, b *booktest.Book) error {
		i := slices.Index(src.names, m.Symbol)
		if m.Epoch != src.syms[i].epoch {
			return fmt.Errorf("book %s seq %d: epoch %q, not its ticks'", m.Symbol, m.Seq, m.Epoch)
		}
		bids, asks := b.Sides()
		own := src.books[i]
		wantBids, wantAsks := appendLevels(nil, own.bids), appendLevels(nil, own.asks)
		if !slices.Equal(bids, wantBids) || !slices.Equal(asks, wantAsks) {
			return fmt.Errorf("book %s seq %d: applied %v | %v, the sim has %v | %v", m.Symbol, m.Seq, bids, asks, wantBids, wantAsks)
		}
		if got, want := feed.Checksum(bids, asks), feed.Checksum(wantBids, wantAsks); got != want {
			return fmt.Errorf("book %s seq %d: checksum %d, the sim's book's %d", m.Symbol, m.Seq, got, want)
		}
		return nil
	}
	return r
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
	}{{10, 0.25, 1}, {1, 0.5, 2}, {3, 1, 3}, {10, 0, 4}, {30, 0.5, 5}} {
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
				if r.Err != nil {
					t.Fatalf("turn %d: %v", i, r.Err)
				}
				for k, b := range s.books {
					if err := compact(b, c.depth); err != nil {
						t.Fatalf("turn %d: %s: %v", i, s.names[k], err)
					}
				}
			}
			if r.N.Ticks == 0 || r.N.Books < len(s.syms) || r.N.Halts == 0 {
				t.Fatalf("%+v: want ticks, books and halts", r.N)
			}
			t.Logf("%+v", r.N)
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
	a.start(1, outA)
	b.start(1, outB)
	for i := range 10_000 {
		a.step(int64(i+1), outA)
		b.step(int64(i+1), outB)
	}
	ticks = onTick.ticks
	if len(ticks) < 5_000 || !slices.Equal(ticks, plain.ticks) {
		t.Fatalf("%d ticks with a DepthSink, %d with a plain Sink, or they differ", len(ticks), len(plain.ticks))
	}
	if withBooks.N.Books == 0 || withBooks.Err != nil {
		t.Fatalf("%d books reached the DepthSink: %v", withBooks.N.Books, withBooks.Err)
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
	const rate, turns = 100.0, 200_000 // 2000 s of feed time
	s := newSource(t, Config{Seed: 2, Rate: rate, Symbols: []string{"A", "B"}, HaltsPerHour: 36, HaltDuration: 5 * time.Second})
	r := booktest.NewReceiver(10)
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
	if r.Err != nil {
		t.Fatal(r.Err)
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

// statusOnly hands ticks and statuses to a receiver, and statuses to
// onStatus too.
type statusOnly struct {
	r        *booktest.Receiver
	onStatus func(feed.Status)
}

func (s *statusOnly) Publish(t feed.Tick)   { s.r.Publish(t) }
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
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.N.Ticks == 0 || r.N.Books == 0 {
		t.Fatalf("%+v: want ticks and books", r.N)
	}
}

// compact reports a side of b that spreads further from its touch than a
// ladder of depth levels at most maxLevelGap apart (and what the churn
// since the last trade may have pulled out of it) can: the sim once let
// the levels an old quote left behind stay, dollars from the price.
func compact(b *book, depth int) error {
	limit := int64(depth*maxLevelGap + churnActions*2)
	for _, side := range [2][]level{b.bids, b.asks} {
		if n := len(side); n > 1 {
			if span := max(side[n-1].px-side[0].px, side[0].px-side[n-1].px); span > limit {
				return fmt.Errorf("levels span %d cents (%v), want at most %d", span, side, limit)
			}
		}
	}
	return nil
}
