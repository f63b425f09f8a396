package fanout

import (
	"fmt"
	"runtime"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// drainEvery is how many ticks the fan-out benchmarks queue between drains.
// A queue of up to 32 messages keeps its backing array when drained empty
// (maxIdleQueueCap), so the drain does not make the next ticks allocate.
const drainEvery = 32

var benchSubs = []int{1000, 10000}

// BenchmarkFanout delivers one tick at a time to every subscriber of its
// symbol through shard.deliver: encode once into the arena, enqueue the
// same bytes N times.
func BenchmarkFanout(b *testing.B) {
	for _, subs := range benchSubs {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			benchDeliver(b, subs, (*fanoutFixture).deliverNext)
		})
	}
}

// BenchmarkFanoutEncodePerSubscriber is BenchmarkFanout as a naive hub
// does it: the tick is encoded again, into a fresh right-sized buffer, for
// every subscriber. The ratio of the two is what encode-once buys.
func BenchmarkFanoutEncodePerSubscriber(b *testing.B) {
	for _, subs := range benchSubs {
		b.Run(fmt.Sprintf("subs=%d", subs), func(b *testing.B) {
			benchDeliver(b, subs, (*fanoutFixture).deliverEncodeEach)
		})
	}
}

// deliverEncodeEach is deliverNext without encode-once.
func (f *fanoutFixture) deliverEncodeEach() {
	f.batch[0].tick.Seq++
	s, sym, t := f.sym.shard, f.sym, &f.batch[0].tick
	s.mu.Lock()
	sym.topics[Ticks].lastSeq = t.Seq
	for _, r := range sym.topics[Ticks].classes[0].subs {
		r.c.enqueue(Message{Data: t.AppendJSON(make([]byte, 0, 160)), TS: t.TS, key: r.key})
	}
	s.mu.Unlock()
}

func benchDeliver(b *testing.B, subs int, deliver func(*fanoutFixture)) {
	f := newFanoutFixture(b, subs)
	for range drainEvery { // warm the queues up to their steady capacity
		deliver(f)
	}
	f.drain()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		deliver(f)
		if n++; n%drainEvery == 0 {
			b.StopTimer()
			f.drain()
			b.StartTimer()
		}
	}
	b.StopTimer()
	f.drain()
	for _, c := range f.clients {
		if c.Cause() != nil {
			b.Fatalf("client closed: %v", c.Cause())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*subs), "ns/delivery")
}

// BenchmarkPublishShards runs the whole engine: Publish from one goroutine,
// shard goroutines delivering to 100 subscribers of each of 64 symbols,
// and a writer goroutine per client draining as a session would. ns/op is
// the cost per published tick, until every shard has delivered it, with
// one shard and with GOMAXPROCS. Expect noise: each tick wakes 100 writers.
func BenchmarkPublishShards(b *testing.B) {
	for _, shards := range slices.Compact([]int{1, runtime.GOMAXPROCS(0)}) {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			benchPublish(b, shards, 64, 100)
		})
	}
}

func benchPublish(b *testing.B, shards, nsyms, subsPerSym int) {
	syms := make([]string, nsyms)
	for i := range syms {
		syms[i] = fmt.Sprintf("SYM%d", i)
	}
	e, _ := startEngine(b, Config{Shards: shards, QueueBytes: 64 << 20}, syms...)
	var writers []*collector
	for i := range nsyms * subsPerSym {
		c := newTestClient(e)
		mustSubscribe(b, e, c, syms[i%nsyms])
		w := discard(c)
		b.Cleanup(func() { w.stop() }) // before the engine stops
		writers = append(writers, w)
	}
	b.ReportAllocs()
	b.ResetTimer()
	// A plain b.N loop, not b.Loop, which would stop the timer before the
	// wait below.
	seq := make([]uint64, nsyms)
	n := b.N
	for j := range n {
		i := j % nsyms
		seq[i]++
		e.Publish(testTick(syms[i], seq[i]))
	}
	for i, sym := range syms { // the shards' work is part of the cost
		for last, _ := e.Last(sym); last.Seq != seq[i]; last, _ = e.Last(sym) {
			runtime.Gosched()
		}
	}
	b.StopTimer()
	waitDelivered(b, e, n) // Last moves before the batch is counted
	for _, w := range writers {
		if w.c.Cause() != nil {
			b.Fatalf("client closed: %v", w.c.Cause())
		}
	}
	if got := testutil.ToFloat64(e.metrics.enqueued); got != float64(n*subsPerSym) {
		b.Fatalf("enqueued %v, want %d", got, n*subsPerSym)
	}
}

// discard is a collector that drops what it drains, so a long benchmark
// holds no messages.
func discard(c *testClient) *collector {
	col := &collector{c: c, quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(col.done)
		var buf []Message
		for {
			select {
			case <-c.Ready():
			case <-col.quit:
				return
			}
			for {
				if buf = c.Drain(buf[:0], 64<<10); len(buf) == 0 {
					break
				}
				clear(buf)
			}
		}
	}()
	return col
}
