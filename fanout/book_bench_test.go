package fanout

import (
	"fmt"
	"testing"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/depthtest"
)

// bookUpdates is a snapshot and n updates of a depth-10 book.
func bookUpdates(n int) []feed.Book {
	g := depthtest.NewGen("AAPL", 10, 1)
	out := []feed.Book{g.Snapshot()}
	for range n {
		out = append(out, g.Update())
	}
	return out
}

// benchRuns name the runs a benchmark's passes over its updates make: a
// pass starts the seqs again, so it is a new run. More than the engine
// remembers (retiredEpochs), so none comes back as a conflict.
var benchRuns = []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"}

// BenchmarkBookFanout is BenchmarkFanout for the book: one update at a
// time applied to the symbol's book, checksummed, encoded once and queued
// to every subscriber.
func BenchmarkBookFanout(b *testing.B) {
	for _, subs := range benchSubs {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			f := newBookFixture(&testing.T{}, Config{QueueBytes: 64 << 20})
			var clients []*testClient
			for range subs {
				c := newTestClient(f.e)
				subscribeBook(b, f.e, c, Policy{})
				clients = append(clients, c)
			}
			updates := bookUpdates(4096)
			next := 0
			batch := make([]inTick, 1)
			deliver := func() {
				d := f.e.free.get()
				d.kind, d.book = depthBook, updates[next%len(updates)]
				d.book.Epoch = benchRuns[next/len(updates)%len(benchRuns)] // each pass of the seqs a run of its own
				next++
				batch[0] = inTick{sym: f.sym, depth: d}
				f.sym.shard.deliver(batch, 0)
			}
			var dst []Message
			drain := func() {
				for _, c := range clients {
					dst = c.Drain(dst[:0], 1<<30)
				}
				clear(dst)
			}
			for range drainEvery {
				deliver()
			}
			drain()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				deliver()
				if n++; n%drainEvery == 0 {
					b.StopTimer()
					drain()
					b.StartTimer()
				}
			}
			b.StopTimer()
			drain()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*subs), "ns/delivery")
		})
	}
}

// BenchmarkBookLagging measures what keyed conflation saves a client
// that falls behind: behind updates queue between two drains of its
// queue, and the bytes written for them, merged by price level
// (merged) or each one (every, a queue that does not conflate), are
// reported per update.
func BenchmarkBookLagging(b *testing.B) {
	for _, behind := range []int{4, 16, 64} {
		for _, merge := range []bool{true, false} {
			name := map[bool]string{true: "merged", false: "every"}[merge]
			b.Run(fmt.Sprintf("behind=%d/%s", behind, name), func(b *testing.B) {
				f := newBookFixture(&testing.T{}, Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20})
				c := newTestClient(f.e)
				if merge {
					c.q.conflateAt, c.q.lowWater = 1, 0 // conflating from the first message, never live again
				}
				subscribeBook(b, f.e, c, Policy{})
				updates := bookUpdates(1 << 16)
				batch := make([]inTick, 1)
				next, bytes, msgs := 0, 0, 0
				var dst []Message
				b.ReportAllocs()
				for b.Loop() {
					for range behind {
						d := f.e.free.get()
						d.kind, d.book = depthBook, updates[next%len(updates)]
						d.book.Epoch = benchRuns[next/len(updates)%len(benchRuns)]
						next++
						batch[0] = inTick{sym: f.sym, depth: d}
						f.sym.shard.deliver(batch, 0)
					}
					dst = c.Drain(dst[:0], 1<<30)
					for i := range dst {
						bytes += dst[i].wireLen() + 1
					}
					msgs += len(dst)
					clear(dst)
				}
				b.ReportMetric(float64(bytes)/float64(next), "wire-B/update")
				b.ReportMetric(float64(msgs)/float64(next), "msgs/update")
			})
		}
	}
}
