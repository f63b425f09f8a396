package sim

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/booktest"
)

func TestUniverse(t *testing.T) {
	t.Parallel()
	const n = 10_000
	syms := Symbols(Config{Universe: n, Seed: 3})
	if len(syms) != n || !slices.Equal(syms[:len(DefaultSymbols)], DefaultSymbols) {
		t.Fatalf("universe of %d: %d symbols, first %q; want DefaultSymbols first", n, len(syms), syms[:3])
	}
	seen := map[string]bool{}
	for _, s := range syms {
		if !feed.ValidSymbol(s) || seen[s] || len(s) > 5 {
			t.Fatalf("universe: %q invalid, duplicate or longer than 5 letters", s)
		}
		seen[s] = true
	}
	if !slices.Equal(Symbols(Config{Universe: n, Seed: 3}), syms) {
		t.Fatal("the same seed gave another universe")
	}
	if slices.Equal(Symbols(Config{Universe: n, Seed: 4}), syms) {
		t.Fatal("seeds 3 and 4 gave the same universe")
	}
	if got := Symbols(Config{Universe: 10}); !slices.Equal(got, DefaultSymbols[:10]) {
		t.Fatalf("universe of 10 = %q, want the first 10 of DefaultSymbols", got)
	}

	s := newSource(t, Config{Universe: n, Seed: 3})
	var closes []float64
	for _, l := range s.Listings()[len(DefaultSymbols):] {
		if l.PrevClose < minClose || l.PrevClose > maxClose || l.PrevClose != dollars(cents(l.PrevClose)) {
			t.Fatalf("%s: previous close %v, want whole cents in [%v, %v]", l.Symbol, l.PrevClose, minClose, maxClose)
		}
		closes = append(closes, l.PrevClose)
	}
	sort.Float64s(closes)
	under5 := float64(sort.SearchFloat64s(closes, 5)) / float64(len(closes))
	if median := closes[len(closes)/2]; median < 15 || median > 40 || under5 < 0.03 || under5 > 0.25 {
		t.Fatalf("previous closes: median %v, %.0f%% under $5; want a market's: about $25, a tenth under $5", median, 100*under5)
	}
}

// listingSink records what Run hands on: the listings, and every listing
// and tick in order.
type listingSink struct {
	mu     sync.Mutex
	events []feed.Listing
	order  []any // feed.Listing or feed.Tick
}

func (l *listingSink) List(x feed.Listing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, x)
	l.order = append(l.order, x)
}

func (l *listingSink) Publish(t feed.Tick) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, t)
}

// TestRelist runs a four-symbol feed that relists every 20ms: each time it
// delists a symbol of the quieter half and then lists a new one with a
// previous close; no tick of a delisted symbol follows its delisting, and
// a new symbol's ticks start at seq 1 in an epoch of their own.
func TestRelist(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Symbols: []string{"AAA", "BBB", "CCC", "DDD"}, Rate: 2000, RelistEvery: 20 * time.Millisecond, Epoch: "run"})
	sink := &listingSink{}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx, sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.events) < 4 {
		t.Fatalf("%d listings in 400ms of relisting every 20ms, want several", len(sink.events))
	}
	gone := map[string]bool{}
	listed := map[string]bool{"AAA": true, "BBB": true, "CCC": true, "DDD": true}
	last := map[string]uint64{}
	for i, x := range sink.order {
		switch x := x.(type) {
		case feed.Listing:
			if x.Delisted {
				if !listed[x.Symbol] || x.Symbol == "AAA" || x.Symbol == "BBB" {
					t.Fatalf("event %d delists %s: not listed, or of the hot half", i, x.Symbol)
				}
				listed[x.Symbol], gone[x.Symbol] = false, true
				continue
			}
			if listed[x.Symbol] || gone[x.Symbol] || x.PrevClose <= 0 {
				t.Fatalf("event %d lists %+v: listed already, listed before, or without a close", i, x)
			}
			listed[x.Symbol] = true
		case feed.Tick:
			if !listed[x.Symbol] {
				t.Fatalf("event %d: a tick of %s, which is not listed", i, x.Symbol)
			}
			new := x.Symbol != "AAA" && x.Symbol != "BBB" && x.Symbol != "CCC" && x.Symbol != "DDD"
			if x.Seq != last[x.Symbol]+1 || new == (x.Epoch == "run") {
				t.Fatalf("event %d: %s seq %d epoch %s after seq %d", i, x.Symbol, x.Seq, x.Epoch, last[x.Symbol])
			}
			last[x.Symbol] = x.Seq
		}
	}
	if got := feed.Symbols(s.Listings()); !slices.Equal(got, []string{"AAA", "BBB", "CCC", "DDD"}) {
		t.Fatalf("Listings() = %q after relisting, want the universe at start", got)
	}
}

// afterListing is a booktest.Receiver that also notes, for each symbol
// listed while it runs, the kinds of its first two messages after the
// listing.
type afterListing struct {
	*booktest.Receiver
	first map[string][]string
}

func (a *afterListing) note(sym, kind string) {
	if got, ok := a.first[sym]; ok && len(got) < 2 {
		a.first[sym] = append(got, kind)
	}
}

func (a *afterListing) List(l feed.Listing) {
	if !l.Delisted {
		a.first[l.Symbol] = []string{}
	}
	a.Receiver.List(l)
}

func (a *afterListing) Publish(t feed.Tick) { a.note(t.Symbol, "tick"); a.Receiver.Publish(t) }

func (a *afterListing) PublishStatus(st feed.Status) {
	a.note(st.Symbol, "status "+st.Status)
	a.Receiver.PublishStatus(st)
}

func (a *afterListing) PublishBook(b feed.Book) {
	a.note(b.Symbol, map[bool]string{true: "snapshot", false: "update"}[b.Snapshot])
	a.Receiver.PublishBook(b)
}

// TestRelistWithBooks relists a feed with books and halts into a receiver
// that checks what a gateway relies on (booktest.Receiver): a delisted
// symbol's book and status are forgotten, and each symbol listed in its
// place starts its own, its status (open) and book snapshot right after
// its listing, before its first trade, as every symbol's at the start.
func TestRelistWithBooks(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Symbols: []string{"AAA", "BBB", "CCC", "DDD"}, Rate: 2000, RelistEvery: 20 * time.Millisecond,
		Book: true, Churn: 0.5, HaltsPerHour: 3600, HaltDuration: 50 * time.Millisecond})
	r := &afterListing{Receiver: booktest.NewReceiver(10), first: map[string][]string{}}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if r.N.Delistings < 4 || r.N.Listings != r.N.Delistings {
		t.Fatalf("%d listings, %d delistings in 400ms of relisting every 20ms: want several, paired", r.N.Listings, r.N.Delistings)
	}
	for sym, kinds := range r.first {
		if !slices.Equal(kinds, []string{"status open", "snapshot"}) {
			t.Errorf("%s, listed while running: its first messages %q, want its open status, then its book's snapshot", sym, kinds)
		}
	}
}

// BenchmarkNewResumedUniverse builds a source that resumes a whole
// universe of 50,000 symbols, tick, book and status each, as `gateway
// publish` does after a restart: finding each resumed symbol must not
// cost a scan of the universe.
func BenchmarkNewResumedUniverse(b *testing.B) {
	const n = 50_000
	var cfg Config
	cfg.Universe, cfg.Book = n, true
	for _, sym := range Symbols(cfg) {
		cfg.Resume = append(cfg.Resume, feed.Tick{Symbol: sym, Seq: 5, Price: 10, Bid: 9.99, Ask: 10.01, TS: 1, Epoch: "e"})
		cfg.ResumeBooks = append(cfg.ResumeBooks, feed.Book{Symbol: sym, Seq: 3, Epoch: "e"})
		cfg.ResumeStatus = append(cfg.ResumeStatus, feed.Status{Symbol: sym, Seq: 2, Epoch: "e"})
	}
	for b.Loop() {
		if _, err := New(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
