package sim

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// A universe: with Config.Universe n, the simulator emits n symbols
// without a list in config: DefaultSymbols first (the first n of them if
// n is smaller), then made-up tickers drawn from the seed, so the same
// seed gives the same universe. The made-up ones look like US listings:
// 2 to 5 letters, most 3 or 4; their previous closes are log-normal
// around $25 (a tenth under $5, a few in the thousands), as a whole
// market's are; they tick by Zipf rank like the rest, so a 10,000-symbol
// universe has a hot head and a long quiet tail.
//
// Relisting: with Config.RelistEvery, each period the simulator delists one
// symbol of the quieter half and lists a new ticker in its Zipf rank, with
// its own previous close, book and trading state, a fresh epoch and seqs
// from 1: the listings and delistings of a trading day, for tests and
// demos.

// maxUniverse bounds Config.Universe.
const maxUniverse = 1_000_000

// Symbols returns the symbols a source of cfg emits at start, hottest
// first: Config.Symbols, or the universe of Config.Universe, or
// DefaultSymbols. It draws nothing from the seed that ticks depend on, so
// a publisher can know the universe (to resume it from a stream) before it
// builds the source.
func Symbols(cfg Config) []string {
	switch {
	case len(cfg.Symbols) > 0:
		return append([]string(nil), cfg.Symbols...)
	case cfg.Universe == 0:
		return append([]string(nil), DefaultSymbols...)
	case cfg.Universe <= len(DefaultSymbols):
		return append([]string(nil), DefaultSymbols[:cfg.Universe]...)
	}
	out := append(make([]string, 0, cfg.Universe), DefaultSymbols...)
	taken := make(map[string]bool, cfg.Universe)
	for _, s := range out {
		taken[s] = true
	}
	return append(out, newNames(namesRNG(cfg.Seed), cfg.Universe-len(out), taken)...)
}

// namesRNG is the generator of a seed's made-up tickers, apart from the
// one prices and ticks draw from.
func namesRNG(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x6a09e667f3bcc908, seed+0xbb67ae8584caa73b))
}

// tickerLengths weighs the length of a made-up ticker.
var tickerLengths = [...]int{2, 3, 3, 3, 4, 4, 4, 4, 5, 5}

// newNames draws n tickers that are not in taken, and adds them to it.
func newNames(rng *rand.Rand, n int, taken map[string]bool) []string {
	out := make([]string, 0, n)
	var b [5]byte
	for len(out) < n {
		name := b[:tickerLengths[rng.IntN(len(tickerLengths))]]
		for i := range name {
			name[i] = 'A' + byte(rng.IntN(26))
		}
		if taken[string(name)] {
			continue
		}
		s := string(name)
		taken[s] = true
		out = append(out, s)
	}
	return out
}

// Previous closes of symbols without a profile: log-normal, median
// medianClose, clamped to [minClose, maxClose].
const (
	medianClose = 25.0
	closeSpread = 1.1 // sigma of log(close): a tenth of symbols under $5
	minClose    = 0.5
	maxClose    = 5000
)

// drawClose draws a previous close for a symbol without a profile.
func drawClose(rng *rand.Rand) float64 {
	return min(max(medianClose*math.Exp(closeSpread*rng.NormFloat64()), minClose), maxClose)
}

// relist delists one symbol of the quieter half and lists a new ticker in
// its place (its Zipf rank, so its share of ticks), with a previous close
// and volatility of its own, a fresh epoch and seqs from 1, an open
// trading state and, with books, a book of its own: its status and book
// snapshot go to out's DepthSink right after its listing, as start sends
// every symbol's. A delisted ticker is never listed again by this run.
func (s *Source) relist(out *outlet) {
	lo := len(s.syms) / 2
	i := lo + s.rng.IntN(len(s.syms)-lo)
	old := s.syms[i].name
	name := newNames(s.rng, 1, s.taken)[0]
	sym := newSymbol(name, s.shares[i], s.rate, s.rng)
	sym.epoch = feed.NewEpoch()
	out.sink.List(feed.Listing{Symbol: old, Delisted: true})
	s.syms[i] = sym
	h := s.halts[i] // the same rank: the same chances per turn
	s.halts[i] = halt{state: feed.StatusOpen, pHalt: h.pHalt, pAuction: h.pAuction, pOpen: h.pOpen}
	if s.books != nil {
		s.books[i] = newBook(s.depth)
		s.books[i].follow(sym.px, s.depth, s.rng)
	}
	out.sink.List(feed.Listing{Symbol: name, PrevClose: sym.prevClose})
	ts := time.Now().UnixNano()
	s.sendStatus(i, ts, out)
	if s.books != nil && out.depth != nil {
		s.sendBook(i, ts, out)
	}
}
