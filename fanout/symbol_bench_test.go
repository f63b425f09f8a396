package fanout

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// BenchmarkListedSymbolMemory is the heap a listed symbol costs before
// anything happens to it: no subscriber, no tick, no book, no status. It
// is the fixed part of the engine's memory per symbol, which the memory
// budget counts as symbolBytes, so it is what a whole market costs at
// rest. The engine
// is built with 50,000 listings and with none, and the difference in live
// heap after a collection is divided by 50,000; with delayed=true the
// engine has a delayed tier, whose twins cost as much again.
func BenchmarkListedSymbolMemory(b *testing.B) {
	const n = 50_000
	listings := numberedListings(n)
	for _, delay := range []time.Duration{0, 15 * time.Minute} {
		b.Run(fmt.Sprintf("delayed=%t", delay > 0), func(b *testing.B) {
			cfg := Config{MaxSymbols: n, Delay: delay}
			var perSym float64
			for b.Loop() {
				empty := liveHeap(b, cfg, nil)
				full := liveHeap(b, cfg, listings)
				perSym += float64(full-empty) / n
			}
			b.ReportMetric(perSym/float64(b.N), "B/symbol")
		})
	}
}

// numberedListings lists n symbols, S00000 up.
func numberedListings(n int) []feed.Listing {
	listings := make([]feed.Listing, n)
	for i := range listings {
		listings[i].Symbol = fmt.Sprintf("S%05d", i)
	}
	return listings
}

// liveHeap is the live heap, after a collection, while an engine built
// with cfg and universe is held.
func liveHeap(b testing.TB, cfg Config, universe []feed.Listing) uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	before := m.HeapAlloc
	e, err := New(cfg, universe, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	runtime.KeepAlive(e)
	return m.HeapAlloc - before
}

// TestSymbolBytesMeasured: what the memory budget counts for a listed
// symbol (symbolBytes) is what one costs the heap, within 15 %, with and
// without a delayed tier. The live heap after a collection is the same
// from run to run, so this holds on any machine; a field added to symbol
// or topic moves both.
func TestSymbolBytesMeasured(t *testing.T) {
	const n = 20_000
	listings := numberedListings(n)
	for _, delay := range []time.Duration{0, 15 * time.Minute} {
		cfg := Config{MaxSymbols: n, Delay: delay}
		empty := liveHeap(t, cfg, nil)
		full := liveHeap(t, cfg, listings)
		measured := float64(full-empty) / n
		counted := float64(listedBytes(cfg, listings[0].Symbol))
		t.Logf("measured %.0f counted %.0f", measured, counted)
		if measured < 0.85*counted || measured > 1.15*counted {
			t.Errorf("delay %s: a listed symbol costs %.0f B of heap, the budget counts %.0f", delay, measured, counted)
		}
	}
}
