package sim

import (
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/tickgate/tickgate/feed"
)

// Price model: each symbol's price follows geometric Brownian motion with
// its own annualised volatility sigma (20-60%, see profiles),
// price *= exp((mu - sigma²/2)·dt + sigma·√dt·N(0,1)) per tick. A tick
// advances its symbol's clock by dt, the mean wall-clock time between that
// symbol's ticks at the configured rate (1 / (rate · its Zipf share)), in
// trading years. So however fast a symbol ticks, its price moves about as
// much per wall-clock second as a real stock's does: sigma 30% is about
// 1.2 basis points (one sigma) a second and 2% a trading day. dt comes from
// the rate, not the clock, so a seed still gives the same prices every run.
const (
	mu          = 0.05             // annual drift
	tradingYear = 252 * 6.5 * 3600 // seconds of trading in a year
	tradingDay  = 1.0 / 252        // in years
	openGap     = 0.25             // the open's gap from the previous close, in trading days of variance
	closeJitter = 0.02             // a profile's close varies by seed up to this fraction either way
	minSigma    = 0.20             // the volatility of a symbol without a profile is drawn
	maxSigma    = 0.60             // uniformly from [minSigma, maxSigma); its close, drawClose
)

// Model price bounds: a tick needs a positive price and feed.Tick.Validate
// rejects anything above 1e12, so a long random walk is held inside these.
const (
	minPrice = 0.01
	maxPrice = 1e9
)

// symbol is the per-symbol state of the feed.
type symbol struct {
	name      string
	epoch     string  // of its ticks
	seq       uint64  // seq of the last tick emitted; 0 before the first
	px        float64 // unrounded model price
	prevClose float64 // in whole cents
	sigma     float64 // annualised volatility
	rate      float64 // its live ticks per second
	drift     float64 // (mu - sigma²/2)·dt of one tick
	vol       float64 // sigma·√dt of one tick
}

// newSymbol sets up name's walk for a feed in which it gets share of rate
// ticks/s. It draws from rng a fixed number of times, in a fixed order.
func newSymbol(name string, share, rate float64, rng *rand.Rand) symbol {
	p, ok := profiles[name]
	if ok {
		p.prevClose *= 1 + closeJitter*(2*rng.Float64()-1)
	} else {
		p = profile{prevClose: drawClose(rng), sigma: minSigma + (maxSigma-minSigma)*rng.Float64()}
	}
	sym := symbol{
		name:      name,
		prevClose: dollars(cents(p.prevClose)),
		sigma:     p.sigma,
		rate:      rate * share,
	}
	sym.drift, sym.vol = sym.walk(1 / (rate * share * tradingYear))
	gap := p.sigma * math.Sqrt(openGap*tradingDay) * rng.NormFloat64()
	sym.px = step(sym.prevClose, 0, gap, 1)
	return sym
}

// resume carries the symbol on from t, the last tick of an earlier run:
// same epoch, next seq, and the walk from t's price so it does not jump.
func (sym *symbol) resume(t feed.Tick) {
	sym.epoch, sym.seq, sym.px = t.Epoch, t.Seq, t.Price
}

// walk is the drift and volatility of a step of the symbol's walk that
// spans dt trading years.
func (sym *symbol) walk(dt float64) (drift, vol float64) {
	return (mu - sym.sigma*sym.sigma/2) * dt, sym.sigma * math.Sqrt(dt)
}

// next generates the next tick, stamped ts. Run calls it for every tick;
// tests call it directly to check the sequence without timing. It draws
// from the RNG in a fixed order, which is what makes a seed reproducible.
func (s *Source) next(ts int64) feed.Tick {
	sym := &s.syms[s.pick()]
	return s.tick(sym, sym.drift, sym.vol, ts)
}

// tick makes sym's next tick, stamped ts, its price one step of the walk
// with the given drift and volatility on from the last.
func (s *Source) tick(sym *symbol, drift, vol float64, ts int64) feed.Tick {
	sym.seq++
	sym.px = step(sym.px, drift, vol, s.rng.NormFloat64())
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
		Epoch:  sym.epoch,
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

// step applies one GBM step of the given drift and volatility, driven by
// the standard normal z.
func step(px, drift, vol, z float64) float64 {
	px *= math.Exp(drift + vol*z)
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
