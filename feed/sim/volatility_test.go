package sim

import (
	"math"
	"slices"
	"testing"
)

// TestVolatilityRealistic checks the feed moves as real large caps do, at
// any rate. Every 5 s of feed time (5·rate ticks) it samples each symbol's
// model price, and estimates its annualised volatility from the log returns
// between samples: it must be within 15% of the symbol's sigma, which is
// 20-60%. (Published prices are whole cents: for a $22 stock a cent is
// more than a typical 5 s move, so they are checked for AAPL only.) The
// feed used to move a median 0.14% per 5 s, about 200% a year.
func TestVolatilityRealistic(t *testing.T) {
	t.Parallel()
	for rate, windows := range map[float64]int{100: 1000, 1000: 400} {
		const window = 5.0 // seconds of feed time
		s := newSource(t, Config{Seed: 3, Rate: rate})
		sumSq := make([]float64, len(s.syms))
		var moves []float64 // |5 s move| of AAPL's published price
		aapl := dollars(cents(s.syms[0].px))
		for range windows {
			before, was := model(s), aapl
			for range int(window * rate) {
				if tk := s.next(1); tk.Symbol == "AAPL" {
					aapl = tk.Price
				}
			}
			for i, px := range model(s) {
				r := math.Log(px / before[i])
				sumSq[i] += r * r
			}
			moves = append(moves, math.Abs(math.Log(aapl/was)))
		}
		years := float64(windows) * window / tradingYear
		for i, sym := range s.syms {
			got := math.Sqrt(sumSq[i] / years)
			if sym.sigma < minSigma || sym.sigma > maxSigma || math.Abs(got/sym.sigma-1) > 0.15 {
				t.Errorf("rate %g: %s realised volatility %.1f%% a year, want its sigma %.0f%% (20-60%%) within 15%%", rate, sym.name, 100*got, 100*sym.sigma)
			}
		}
		slices.Sort(moves)
		median, top := moves[len(moves)/2], moves[len(moves)-1]
		t.Logf("rate %g: AAPL 5 s move median %.4f%%, largest %.4f%%", rate, 100*median, 100*top)
		if median > 0.0005 || top > 0.005 {
			t.Errorf("rate %g: AAPL moves a median %.4f%% per 5 s, at most %.4f%%; want about 0.015%% and under 0.5%%", rate, 100*median, 100*top)
		}
	}
}

// model returns each symbol's unrounded model price.
func model(s *Source) []float64 {
	px := make([]float64, len(s.syms))
	for i := range s.syms {
		px[i] = s.syms[i].px
	}
	return px
}

// TestPrevClose checks each symbol has a previous close in whole cents near
// its profile, and that the day opens with a gap from it the size of a real
// overnight move, not a jump.
func TestPrevClose(t *testing.T) {
	t.Parallel()
	s := newSource(t, Config{Seed: 5, Symbols: []string{"AAPL", "TSLA", "KO", "NEWCO"}})
	listings := s.Listings()
	for i, sym := range s.syms {
		pc := listings[i].PrevClose
		if listings[i].Symbol != sym.name || pc != sym.prevClose || pc != dollars(cents(pc)) {
			t.Errorf("Listings()[%d] = %+v; want %s with its close %v in whole cents", i, listings[i], sym.name, sym.prevClose)
		}
		if p, known := profiles[sym.name]; known && math.Abs(pc/p.prevClose-1) > closeJitter+1e-4 {
			t.Errorf("%s close %v, more than %.0f%% from its profile's %v", sym.name, pc, 100*closeJitter, p.prevClose)
		}
		if gap := math.Abs(math.Log(sym.px / pc)); gap > 4*sym.sigma*math.Sqrt(openGap*tradingDay) {
			t.Errorf("%s opens %.2f%% from its close, past 4 sigma of an overnight gap", sym.name, 100*gap)
		}
	}
	if a, b := newSource(t, Config{Seed: 5}), newSource(t, Config{Seed: 5}); a.syms[0].prevClose != b.syms[0].prevClose {
		t.Error("same seed, different previous close")
	}
}
