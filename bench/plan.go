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
	subs := make([]float64, universe)
	for _, p := range picks {
		for _, j := range p {
			subs[j]++
		}
	}
	var norm, sum float64
	for k := range universe {
		w := math.Pow(float64(1+k), -feedSkew)
		norm += w
		sum += w * subs[k]
	}
	return sum / norm
}
