package main

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
)

// BenchmarkSymbols is GET /symbols on a simulated market of 10,000 and
// 50,000 symbols, served without a socket: the whole list with previous
// closes, and the page's search (a prefix, 8 at most, with closes).
func BenchmarkSymbols(b *testing.B) {
	for _, n := range []int{10_000, 50_000} {
		cfg := testConfig(b, map[string]string{"feed.sim.universe": fmt.Sprint(n), "universe.max_symbols": fmt.Sprint(n)})
		gw, err := newGateway(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{"detail=1", "q=ZX&limit=8&detail=1"} {
			b.Run(fmt.Sprintf("symbols=%d/%s", n, q), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					w := httptest.NewRecorder()
					gw.clients.ServeSymbols(w, httptest.NewRequest("GET", "/symbols?"+q, nil))
					if w.Code != 200 {
						b.Fatal(w.Code)
					}
				}
			})
		}
	}
}
