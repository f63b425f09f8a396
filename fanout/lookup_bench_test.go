package fanout

import (
	"fmt"
	"testing"
)

// BenchmarkPublishLookup is Publish alone, on one goroutine: the symbol
// lookup and the hand-off to the shard's inbox, with no shard running (the
// benchmark empties the inbox, off the clock, when it fills). It is the
// tick path's cost per symbol table size, 100 to 50,000 symbols, the ticks
// spread over all of them.
func BenchmarkPublishLookup(b *testing.B) {
	for _, n := range []int{100, 10_000, 50_000} {
		b.Run(fmt.Sprintf("symbols=%d", n), func(b *testing.B) {
			syms := make([]string, n)
			for i := range syms {
				syms[i] = fmt.Sprintf("S%05d", i)
			}
			const inbox = 1 << 14
			e, _ := newEngine(b, Config{Shards: 1, InboxTicks: inbox, MaxSymbols: n}, syms...)
			in := e.shards[0].in
			ticks := make([]struct{ sym string }, 4096)
			for i := range ticks { // fresh strings, as a feed decodes them
				ticks[i].sym = string([]byte(syms[(i*7919)%n]))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				tk := testTick(ticks[i&4095].sym, uint64(i+1))
				e.Publish(tk)
				if i++; len(in) == inbox {
					b.StopTimer()
					for len(in) > 0 {
						<-in
					}
					b.StartTimer()
				}
			}
		})
	}
}
