package sim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// Defaults and limits for Config.
const (
	defaultRate = 1000
	maxRate     = 10_000_000
	defaultSkew = 1.1
)

// Config tunes the simulated feed. The zero value is a working feed.
type Config struct {
	// Rate is the total ticks per second across all symbols. 0 means 1000;
	// at most 10,000,000.
	Rate float64
	// Seed fixes the sequence of symbols, seqs, prices and sizes, and the
	// previous closes: the same seed, rate and symbols give the same ticks
	// (a price step spans the mean time between a symbol's ticks, so it
	// depends on the rate). 0 is a valid seed.
	Seed uint64
	// Symbols lists the symbols to emit, hottest first. Nil or empty means
	// DefaultSymbols, or the universe of Universe.
	Symbols []string
	// Universe, above 0, emits that many symbols without listing them:
	// DefaultSymbols, then made-up tickers drawn from the seed
	// (universe.go). At most 1,000,000; not with Symbols.
	Universe int
	// RelistEvery, above 0, delists one symbol of the quieter half every
	// RelistEvery and lists a new one in its place (universe.go); 0 never
	// does.
	RelistEvery time.Duration
	// Skew is the Zipf exponent s of how often each symbol ticks: symbol i
	// ticks in proportion to (i+1)^-s. 0 means 1.1; otherwise it must be > 1.
	Skew float64
	// Epoch names this run of seq numbering, carried by every tick of a
	// symbol that does not resume. "" means a fresh feed.NewEpoch(), which
	// is what a new run should have: its seqs start again at 1. Otherwise
	// it must be a valid epoch (feed.ValidEpoch).
	Epoch string
	// Resume holds the last tick of an earlier run for symbols whose
	// numbering should carry on rather than start again (gateway publish
	// reads them from its JetStream stream). Such a symbol's ticks go on at
	// Seq+1, from its Price, in its Epoch ("" stays "", DefaultEpoch). At
	// most one per symbol, each for a symbol the source emits.
	Resume []feed.Tick
	// Backfill is how much made-up history Run publishes before its first
	// live tick: synthetic ticks (feed.Tick.Synthetic) stamped over the
	// Backfill before the whole minute Run starts in, so charts have bars
	// at once (backfill.go). 0 means none; at most 24h; not with Resume,
	// whose run has a past already. A symbol ticks every 5 s of it, or,
	// past 200,000 ticks in all, less often (down to every 15 s) and then
	// over a shorter window.
	Backfill time.Duration

	// Book gives each symbol an order book of Depth levels a side around
	// its price (book.go): its trades happen at the touch, and a DepthSink
	// gets its snapshots and updates. Without it a tick's bid and ask are
	// a spread drawn around its price, and no book is sent.
	Book bool
	// Depth is the levels a side of each book (the gateway's book.depth).
	// 0 means 10; at most 100.
	Depth int
	// Churn is the chance, 0 to 1, that a trade is followed by a book
	// update of its symbol: its effect on the book, and 1-3 levels
	// resized, pulled or added. Whatever Churn is, an update goes first
	// when a trade's bid or ask is not what the receiver's book shows.
	Churn float64
	// HaltsPerHour is how often each symbol halts, on average, per hour of
	// feed time (halt.go); 0 never. A halted symbol does not trade.
	HaltsPerHour float64
	// HaltDuration is the mean time a halt lasts; its reopening auction
	// then lasts a fifth of that. 0 means 15s.
	HaltDuration time.Duration
	// ResumeBooks and ResumeStatus hold the last book and status message
	// of an earlier run for symbols in Resume, whose book and status seqs
	// then carry on from them (in the resumed tick's epoch, which theirs
	// must be): the first book message is a snapshot at Seq+1, the first
	// status at Seq+1. At most one of each per resumed symbol.
	ResumeBooks  []feed.Book
	ResumeStatus []feed.Status
}

// Source is the simulated feed. It is not safe for concurrent use; its state
// belongs to the goroutine running Run.
type Source struct {
	rate     float64
	epoch    string
	relistAt time.Duration // Config.RelistEvery
	rng      *rand.Rand
	zipf     *rand.Zipf // nil with a single symbol: nothing to choose
	shares   []float64  // each Zipf rank's share of the ticks
	syms     []symbol   // by Zipf rank; relist replaces one
	taken    map[string]bool
	initial  []feed.Listing // what Listings returns, fixed at New
	running  atomic.Bool    // guards against a second Run racing on rng

	books   []*book // by symbol, as syms; nil without Config.Book
	halts   []halt  // by symbol, as syms
	halting bool    // Config.HaltsPerHour > 0
	depth   int     // levels a side
	churn   float64

	backfillWindow time.Duration // Config.Backfill
}

var _ feed.Source = (*Source)(nil)

// New checks cfg, fills in its defaults and returns a Source ready to Run.
func New(cfg Config) (*Source, error) {
	cfg = cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	names := Symbols(cfg)
	rank := resumedRanks(cfg, names)
	if err := cfg.validateResume(rank); err != nil {
		return nil, err
	}
	// The xor keeps the two PCG words distinct for every seed, including 0.
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	s := &Source{
		rate:     cfg.Rate,
		epoch:    cfg.Epoch,
		relistAt: cfg.RelistEvery,
		rng:      rng,
		shares:   zipfShares(len(names), cfg.Skew),
		syms:     make([]symbol, len(names)),
		taken:    make(map[string]bool, len(names)),
		initial:  make([]feed.Listing, len(names)),

		backfillWindow: cfg.Backfill,
	}
	for i, name := range names {
		s.syms[i] = newSymbol(name, s.shares[i], cfg.Rate, rng)
		s.syms[i].epoch = s.epoch
		s.taken[name] = true
	}
	if n := len(names); n > 1 {
		s.zipf = rand.NewZipf(rng, cfg.Skew, 1, uint64(n-1))
	}
	for _, t := range cfg.Resume {
		s.syms[rank[t.Symbol]].resume(t)
	}
	for i := range s.syms {
		s.initial[i] = feed.Listing{Symbol: s.syms[i].name, PrevClose: s.syms[i].prevClose}
	}
	s.newDepth(cfg, rank)
	return s, nil
}

// Epoch returns the epoch of this run: that of every symbol's ticks but
// those of a resumed symbol.
func (s *Source) Epoch() string { return s.epoch }

// zipfShares returns the share of ticks each of n symbols gets from pick:
// symbol i's is proportional to (i+1)^-skew, as rand.Zipf draws with v = 1.
func zipfShares(n int, skew float64) []float64 {
	shares := make([]float64, n)
	var sum float64
	for i := range shares {
		shares[i] = math.Pow(float64(i+1), -skew)
		sum += shares[i]
	}
	for i := range shares {
		shares[i] /= sum
	}
	return shares
}

// defaults returns cfg with its zero fields replaced by their defaults.
func (cfg Config) defaults() Config {
	if cfg.Rate == 0 {
		cfg.Rate = defaultRate
	}
	if cfg.Skew == 0 {
		cfg.Skew = defaultSkew
	}
	if cfg.Epoch == "" {
		cfg.Epoch = feed.NewEpoch()
	}
	return cfg.depthDefaults()
}

// validate reports the first problem with a defaulted Config. The negated
// comparisons also reject NaN.
func (cfg Config) validate() error {
	if !(cfg.Rate > 0) || cfg.Rate > maxRate {
		return fmt.Errorf("sim: rate %v ticks/s out of range (0, %d]", cfg.Rate, maxRate)
	}
	if !(cfg.Skew > 1) || math.IsInf(cfg.Skew, 1) {
		return fmt.Errorf("sim: skew %v must be > 1 (Zipf exponent)", cfg.Skew)
	}
	switch {
	case cfg.Universe < 0 || cfg.Universe > maxUniverse:
		return fmt.Errorf("sim: universe %d out of range [0, %d]", cfg.Universe, maxUniverse)
	case cfg.Universe > 0 && len(cfg.Symbols) > 0:
		return fmt.Errorf("sim: a universe of %d and a list of %d symbols: give one", cfg.Universe, len(cfg.Symbols))
	case cfg.RelistEvery < 0:
		return fmt.Errorf("sim: negative relist interval %v", cfg.RelistEvery)
	case cfg.RelistEvery > 0 && (len(cfg.Symbols) == 1 || cfg.Universe == 1):
		return fmt.Errorf("sim: relisting needs at least 2 symbols")
	}
	seen := make(map[string]bool, len(cfg.Symbols))
	for _, sym := range cfg.Symbols {
		if !feed.ValidSymbol(sym) {
			return fmt.Errorf("sim: invalid symbol %q", sym)
		}
		if seen[sym] {
			return fmt.Errorf("sim: duplicate symbol %q", sym)
		}
		seen[sym] = true
	}
	if !feed.ValidEpoch(cfg.Epoch) {
		return fmt.Errorf("sim: epoch %q: want 1-32 of A-Z a-z 0-9 _ -", cfg.Epoch)
	}
	if cfg.Backfill < 0 || cfg.Backfill > maxBackfill {
		return fmt.Errorf("sim: backfill %s out of range [0, %s]", cfg.Backfill, maxBackfill)
	}
	if cfg.Backfill > 0 && len(cfg.Resume) > 0 {
		return errors.New("sim: backfill: a resumed run has a past already; set one or the other")
	}
	return cfg.validateDepth()
}

// resumedRanks returns the rank of each of names (the symbols the source
// emits, by Zipf rank) by symbol when cfg resumes any, for finding a
// resumed symbol in a universe of any size at once; else nil.
func resumedRanks(cfg Config, names []string) map[string]int {
	if len(cfg.Resume) == 0 {
		return nil
	}
	rank := make(map[string]int, len(names))
	for i, name := range names {
		rank[name] = i
	}
	return rank
}

// validateResume checks cfg.Resume against the symbols the source emits,
// by their ranks (resumedRanks).
func (cfg Config) validateResume(rank map[string]int) error {
	resumed := make(map[string]bool, len(cfg.Resume))
	for _, t := range cfg.Resume {
		if err := t.Validate(); err != nil {
			return fmt.Errorf("sim: resume: %w", err)
		}
		if _, ok := rank[t.Symbol]; !ok || resumed[t.Symbol] {
			return fmt.Errorf("sim: resume: %s: not emitted, or resumed twice", t.Symbol)
		}
		resumed[t.Symbol] = true
	}
	return cfg.validateResumeDepth()
}

// Listings lists the symbols the source emits at start, hottest first,
// each with its previous close, the reference its change is measured
// from: the profile's price for a DefaultSymbols symbol, varied by the
// seed up to 2%, else drawn from the seed. The day's first price gaps from
// it as a real open does. Run lists and delists others as it relists
// (Config.RelistEvery). It is safe for concurrent use: it reads only what
// New set.
func (s *Source) Listings() []feed.Listing { return slices.Clone(s.initial) }

// Run emits ticks into sink at the configured rate until ctx is done, then
// returns nil. It may be called only once. With Config.Backfill it first
// publishes the synthetic history, as fast as sink takes it.
//
// Run does not sleep per tick: on each wake-up it emits every tick due since
// start, so rates far above the timer resolution keep an exact average. After
// a stall it emits at most maxBurst worth and drops the rest rather than
// flooding the sink; dropped ticks are never generated, so seqs stay
// contiguous.
func (s *Source) Run(ctx context.Context, sink feed.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sim: Run called more than once")
	}
	if s.backfillWindow > 0 && !s.backfill(ctx.Done(), sink, time.Now().UnixNano()) {
		return nil
	}
	out := newOutlet(sink, s.depth)
	s.start(time.Now().UnixNano(), out)
	tk := time.NewTicker(s.interval())
	defer tk.Stop()
	var relist <-chan time.Time
	if s.relistAt > 0 {
		c := time.NewTicker(s.relistAt)
		defer c.Stop()
		relist = c.C
	}
	start := time.Now()
	limit := max(1, uint64(s.rate*maxBurst.Seconds()))
	var emitted uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-relist:
			s.relist(out)
		case now := <-tk.C:
			due := uint64(now.Sub(start).Seconds() * s.rate)
			if due-emitted > limit {
				emitted = due - limit
			}
			if !s.emit(ctx.Done(), out, due-emitted) {
				return nil
			}
			emitted = due
		}
	}
}

// maxBurst is the most wall-clock time one wake-up catches up on.
const maxBurst = 100 * time.Millisecond

// interval is the ticker period: one tick per wake-up at low rates, but no
// finer than 1 ms (timer resolution) and no coarser than 1 s (so a tiny rate
// cannot overflow a Duration).
func (s *Source) interval() time.Duration {
	d := time.Duration(float64(time.Second) / s.rate)
	return min(max(d, time.Millisecond), time.Second)
}

// emit makes n turns, checking done every 1024 so a large burst at a
// high rate still stops promptly. It reports false if done closed.
func (s *Source) emit(done <-chan struct{}, out *outlet, n uint64) bool {
	for i := range n {
		if i%1024 == 1023 {
			select {
			case <-done:
				return false
			default:
			}
		}
		s.step(time.Now().UnixNano(), out)
	}
	return true
}
