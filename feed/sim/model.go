package sim

import (
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/tickgate/tickgate/feed"
)

// Price model: each tick moves its symbol's price one step of geometric
// Brownian motion, price *= exp((mu - sigma²/2)·dt + sigma·√dt·N(0,1)).
// A tick advances its symbol's model clock by dt = 1e-6 years (about 6 s of
// trading time), so with sigma = 0.3 one step has a standard deviation of
// sigma·√dt = 3 basis points: prices visibly move tick to tick. Model time
// runs fast: at the default rate the hottest symbol (~23% of ticks) wanders
// about 27% (one sigma) per wall-clock hour, fine for a demo feed.
const (
	mu        = 0.05 // annual drift
	sigma     = 0.30 // annual volatility
	sqrtDt    = 1e-3 // √dt, dt in years; kept as the root so √ is exact
	stepDrift = (mu - sigma*sigma/2) * sqrtDt * sqrtDt
	stepVol   = sigma * sqrtDt
)

// Model price bounds: a tick needs a positive price and feed.Tick.Validate
// rejects anything above 1e12, so a long random walk is held inside these.
const (
	minPrice = 0.01
	maxPrice = 1e9
)

// symbol is the per-symbol state of the feed.
type symbol struct {
	name string
	seq  uint64  // seq of the last tick emitted; 0 before the first
	px   float64 // unrounded model price
}

// next generates the next tick, stamped ts. Run calls it for every tick;
// tests call it directly to check the sequence without timing. It draws
// from the RNG in a fixed order, which is what makes a seed reproducible.
func (s *Source) next(ts int64) feed.Tick {
	sym := &s.syms[s.pick()]
	sym.seq++
	sym.px = step(sym.px, s.rng.NormFloat64())
	px := cents(sym.px)
	spread := 1 + s.rng.Int64N(5)
	bid := max(px-spread/2, 1)
	return feed.Tick{
		Symbol: sym.name,
		Seq:    sym.seq,
		Price:  dollars(px),
		Size:   lotSize(s.rng.Uint64()),
		Bid:    dollars(bid),
		Ask:    dollars(bid + spread),
		TS:     ts,
	}
}

// pick chooses the index of the symbol that ticks next: Zipf-skewed, so
// the first symbols are hot and the tail is quiet.
func (s *Source) pick() int {
	if s.zipf == nil {
		return 0
	}
	return int(s.zipf.Uint64())
}

// step applies one GBM step driven by the standard normal z.
func step(px, z float64) float64 {
	px *= math.Exp(stepDrift + stepVol*z)
	return min(max(px, minPrice), maxPrice)
}

// cents rounds a price to whole cents. Working in integer cents keeps the
// bid, price and ask exactly one or more cents apart.
func cents(px float64) int64 {
	return max(int64(math.Round(px*100)), 1)
}

// dollars converts cents to a price. The division is correctly rounded, so
// 18931 becomes the float64 nearest 189.31 and encodes as "189.31".
func dollars(c int64) float64 {
	return float64(c) / 100
}

// lotSize turns a random word into a trade size of whole 100-share lots:
// 1 lot half the time, 2 a quarter of the time, and so on (geometric).
func lotSize(r uint64) int64 {
	return 100 * int64(1+bits.TrailingZeros64(r))
}

// startPrice is where name's price walk begins: its DefaultSymbols price if
// it has one, else a log-uniform draw from 10..500 so unknown symbols still
// span penny-ish to large-cap scales deterministically per seed.
func startPrice(name string, rng *rand.Rand) float64 {
	if px, ok := startPrices[name]; ok {
		return px
	}
	return 10 * math.Exp(math.Log(50)*rng.Float64())
}
