package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
)

// feedSkew is the gateway's default Zipf exponent (feed.sim.skew): symbol k
// of /symbols ticks in proportion to (1+k)^-feedSkew.
const feedSkew = 1.1

// clientSkew is the Zipf exponent of the clients' own picks.
const clientSkew = 1.1

// fetchSymbols GETs the server's /symbols list.
func fetchSymbols(ctx context.Context, hc *http.Client, url string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("symbols: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("symbols: %s: %s", url, resp.Status)
	}
	var syms []string
	if err := json.NewDecoder(resp.Body).Decode(&syms); err != nil {
		return nil, fmt.Errorf("symbols: decode: %w", err)
	}
	return syms, nil
}

// pickSymbols returns each client's symbol indexes into universe, k per
// client (at most len(universe)), chosen by mode with a seeded RNG so runs
// are repeatable.
func pickSymbols(mode string, clients, k, universe int, seed uint64) [][]int {
	k = min(k, universe)
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	var zipf *rand.Zipf
	if mode == pickZipf && universe > 1 {
		zipf = rand.NewZipf(rng, clientSkew, 1, uint64(universe-1))
	}
	out := make([][]int, clients)
	for i := range out {
		switch {
		case mode == pickFixed || k == universe:
			out[i] = firstN(k)
		case zipf != nil:
			out[i] = drawDistinct(k, universe, func() int { return int(zipf.Uint64()) }, rng)
		default:
			out[i] = drawDistinct(k, universe, func() int { return rng.IntN(universe) }, rng)
		}
	}
	return out
}

func firstN(k int) []int {
	s := make([]int, k)
	for i := range s {
		s[i] = i
	}
	return s
}

// drawDistinct draws k distinct indexes from draw (sampling without
// replacement). Zipf's tail is rare, so after a bounded number of tries the
// remainder is filled uniformly from what is left.
func drawDistinct(k, universe int, draw func() int, rng *rand.Rand) []int {
	seen := make(map[int]bool, k)
	out := make([]int, 0, k)
	for tries := 0; len(out) < k && tries < 1000*k; tries++ {
		if j := draw(); !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	for len(out) < k {
		if j := rng.IntN(universe); !seen[j] {
			seen[j] = true
			out = append(out, j)
		}
	}
	slices.Sort(out)
	return out
}

// expectedFanout is the mean number of clients one feed tick reaches:
// sum over symbols of P(tick on k) × subscribers(k), with P(k) ∝ (1+k)^-s as
// in the gateway's simulated feed. Slow clients count: they are subscribed.
func expectedFanout(picks [][]int, universe int) float64 {
	return fanoutOver(picks, feedShares(universe))
}

// fanoutOver is expectedFanout with the feed's shares computed once.
func fanoutOver(picks [][]int, shares []float64) float64 {
	var sum float64
	for _, p := range picks {
		for _, j := range p {
			sum += shares[j]
		}
	}
	return sum
}

// feedShares is each of n symbols' share of the feed's ticks:
// (1+k)^-feedSkew, normalised to sum to 1.
func feedShares(n int) []float64 {
	shares := make([]float64, n)
	var norm float64
	for k := range shares {
		shares[k] = math.Pow(float64(1+k), -feedSkew)
		norm += shares[k]
	}
	for k := range shares {
		shares[k] /= norm
	}
	return shares
}

// Matching the fan-out: the universe workload's matched rows.
const (
	// fanoutTolerance is how far a matched row's expected fan-out may be
	// from the one it matches, as a share of it.
	fanoutTolerance = 0.02
	// maxMatchedSymbols caps the symbols per client the search tries: the
	// gateway's client.max_symbols default, past which it refuses them.
	maxMatchedSymbols = 500
)

// matchSymbols returns the symbols per client k, and its expected
// fan-out, for clients picking k symbols each by mode (seeded by seed, as
// pickSymbols does) from a market of universe symbols, whose fan-out is
// nearest target among the k up to the first that reaches it; an error if
// that is not within fanoutTolerance of target or no k up to
// maxMatchedSymbols reaches it. The picks are redrawn for each k, so the
// fan-out is not strictly monotone in k.
func matchSymbols(target float64, mode string, clients, universe int, seed uint64) (int, float64, error) {
	shares := feedShares(universe)
	most := min(maxMatchedSymbols, universe)
	best, bestK := math.Inf(1), 0
	for k := 1; k <= most; k++ {
		fan := fanoutOver(pickSymbols(mode, clients, k, universe, seed), shares)
		if math.Abs(fan-target) < math.Abs(best-target) {
			best, bestK = fan, k
		}
		if fan >= target {
			break
		}
	}
	if math.Abs(best-target) > fanoutTolerance*target {
		return 0, 0, fmt.Errorf("no symbols per client in [1, %d] gives %d clients on %d symbols an expected fan-out within %.0f%% of %.2f: nearest %.2f, at %d",
			most, clients, universe, fanoutTolerance*100, target, best, bestK)
	}
	return bestK, best, nil
}
