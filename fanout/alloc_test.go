package fanout

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The allocation tests are not parallel: AllocsPerRun counts the
// allocations of every goroutine, and paused parallel tests make none.

// fanoutFixture is an engine that is not running, one symbol, and subs
// clients subscribed to it, so a test can call its shard's deliver
// directly.
type fanoutFixture struct {
	e       *Engine
	sym     *symbol
	clients []*testClient
	batch   []inTick // one tick; next advances its seq
	drained []Message
}

func newFanoutFixture(tb testing.TB, subs int) *fanoutFixture {
	tb.Helper()
	return newFanoutFixtureWith(tb, subs, Config{})
}

// newFanoutFixtureWith is newFanoutFixture with cfg, on one shard with
// queues of 64 MiB.
func newFanoutFixtureWith(tb testing.TB, subs int, cfg Config) *fanoutFixture {
	tb.Helper()
	cfg.Shards, cfg.QueueBytes = 1, 64<<20
	e, _ := newEngine(tb, cfg, "AAPL")
	f := &fanoutFixture{e: e, sym: e.lookup("AAPL"), drained: make([]Message, 0, 1024)}
	for range subs {
		c := newTestClient(e)
		mustSubscribe(tb, e, c, "AAPL")
		f.clients = append(f.clients, c)
	}
	f.batch = []inTick{{sym: f.sym, tick: testTick("AAPL", 0)}}
	return f
}

// deliverNext delivers the next tick of the symbol to every subscriber.
func (f *fanoutFixture) deliverNext() {
	f.batch[0].tick.Seq++
	f.sym.shard.deliver(f.batch, 0)
}

// drain empties every client's queue.
func (f *fanoutFixture) drain() {
	for _, c := range f.clients {
		f.drained = c.Drain(f.drained[:0], 1<<30)
	}
	clear(f.drained)
}

// drainAllButLast leaves one message in every queue. A queue that still
// holds something is compacted in place and keeps its backing array,
// whereas one drained empty lets an array over maxIdleQueueCap go.
func (f *fanoutFixture) drainAllButLast() {
	for _, c := range f.clients {
		n, bytes := c.Len()
		c.mu.Lock()
		last := len(c.q.q[len(c.q.q)-1].Data)
		c.mu.Unlock()
		// n-1 messages and the n-2 separators between them.
		f.drained = c.Drain(f.drained[:0], bytes-last+n-2)
	}
	clear(f.drained)
}

// TestDeliverZeroAlloc guards the encode-once path: delivering one tick to
// 1000 subscribers allocates nothing once each queue has capacity. The
// only allocation deliver ever makes is a fresh 32 KiB arena chunk, once
// per few hundred ticks (TestEncodeArenaAmortized); the chunk is renewed
// before measuring so no run straddles one and the count is exactly 0.
func TestDeliverZeroAlloc(t *testing.T) {
	const runs = 50 // AllocsPerRun adds one warm-up run
	f := newFanoutFixture(t, 1000)
	if allocs := f.deliverAllocs(runs); allocs != 0 {
		t.Fatalf("deliver of one tick to 1000 subscribers: %v allocs, want 0", allocs)
	}
	checkCounter(t, f.e.metrics.enqueued, float64(1000*(3*(runs+1))))
	for _, c := range f.clients {
		if n, _ := c.Len(); n != runs+2 || c.Cause() != nil {
			t.Fatalf("client holds %d messages (cause %v), want %d", n, c.Cause(), runs+2)
		}
	}
	f.drain()
}

// TestDeliverZeroAllocUnderBudget is TestDeliverZeroAlloc with a history
// ring the memory budget holds at 16 records of the 1024 it wants: each
// tick asks for room, is refused, and overwrites the oldest record, and
// none of that allocates.
func TestDeliverZeroAllocUnderBudget(t *testing.T) {
	cfg := Config{History: 1024}
	cfg.MemoryBudget = listedBytes(cfg, "AAPL") + 16*recordBytes
	f := newFanoutFixtureWith(t, 1000, cfg)
	if allocs := f.deliverAllocs(50); allocs != 0 {
		t.Fatalf("deliver under the budget: %v allocs, want 0", allocs)
	}
	if tp := f.sym.topics[Ticks]; tp.kept.n != 16 || len(tp.kept.buf) != 16 {
		t.Fatalf("the ring keeps %d of %d records, want 16 of 16", tp.kept.n, len(tp.kept.buf))
	}
	f.drain()
}

// deliverAllocs is the allocations of one deliverNext, averaged over runs
// once every queue has grown past what the runs need and with a fresh
// arena chunk, so no run straddles one.
func (f *fanoutFixture) deliverAllocs(runs int) float64 {
	for range 2 * (runs + 1) {
		f.deliverNext()
	}
	f.drainAllButLast()
	f.sym.shard.arena.renew()
	return testing.AllocsPerRun(runs, f.deliverNext)
}

// TestEncodeArenaAmortized shows the arena chunk is the one allocation of
// the tick path and that it comes once per chunk, not once per tick: a run
// of exactly one chunk's worth of ticks allocates exactly once.
func TestEncodeArenaAmortized(t *testing.T) {
	f := newFanoutFixture(t, 0)
	s := f.sym
	tk := &f.batch[0].tick
	tk.Seq = 1_000_000_000 // ten digits throughout, so every tick is one size
	size := (len(tk.AppendJSON(nil)) + 7) &^ 7
	perChunk := (arenaChunk-maxMsgBytes)/size + 1 // encode keeps headroom for one tick
	s.shard.arena.renew()
	allocs := testing.AllocsPerRun(20, func() {
		for range perChunk {
			tk.Seq++
			s.topics[Ticks].encodeTick(tk)
		}
	})
	if allocs != 1 {
		t.Fatalf("encode: %v allocs per %d ticks, want 1 (one %d-byte chunk)", allocs, perChunk, arenaChunk)
	}
	t.Logf("one arena chunk per %d ticks of %d bytes", perChunk, size)
}

// TestEncodeOwnsItsBytes checks that an encoded tick is capped at its own
// length, so nothing appended later reaches into the next message.
func TestEncodeOwnsItsBytes(t *testing.T) {
	t.Parallel()
	f := newFanoutFixture(t, 0)
	s := f.sym
	a, _ := s.topics[Ticks].encodeTick(&f.batch[0].tick)
	want := string(a)
	f.batch[0].tick.Seq++
	b, _ := s.topics[Ticks].encodeTick(&f.batch[0].tick)
	if cap(a) != len(a) || cap(b) != len(b) {
		t.Fatalf("encoded slices have spare capacity: len %d cap %d, len %d cap %d", len(a), cap(a), len(b), cap(b))
	}
	_ = append(a, "garbage"...)
	if string(a) != want || string(b) == want {
		t.Fatal("encoded ticks share bytes")
	}
}

// TestBarCloseZeroAlloc guards bars on the same path: a tick that closes a
// 1s bar encodes it once and queues it to 1000 subscribers, with a full
// history ring, allocating nothing once the queues have capacity.
func TestBarCloseZeroAlloc(t *testing.T) {
	const runs = 50
	e, _ := newEngine(t, Config{Shards: 1, QueueBytes: 64 << 20, BarHistory: 50}, "AAPL")
	sym := e.lookup("AAPL")
	var clients []*testClient
	for range 1000 {
		c := newTestClient(e)
		if _, err := e.Subscribe(c.Client, []string{"AAPL"}, Policy{Stream: Bars1s}, nil); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	batch := []inTick{{sym: sym, tick: testTick("AAPL", 0)}}
	next := func() { // the next tick, one second on: it closes a bar
		batch[0].tick.Seq++
		batch[0].tick.TS += 1e9
		sym.shard.deliver(batch, 0)
	}
	for range 2 * (runs + 1) { // fill the ring, grow every queue
		next()
	}
	var dst []Message
	for _, c := range clients {
		dst = c.Drain(dst[:0], 1<<30)
		c.Drain(dst[:0], 1<<30)
	}
	clear(dst)
	sym.shard.arena.renew()
	allocs := testing.AllocsPerRun(runs, next)
	if allocs != 0 {
		t.Fatalf("a bar to 1000 subscribers: %v allocs, want 0", allocs)
	}
	if got := int(testutil.ToFloat64(e.metrics.bars[Bars1s])); got != 3*(runs+1)-1 {
		t.Fatalf("%d bars closed, want %d", got, 3*(runs+1)-1)
	}
	if n, _ := clients[0].Len(); n != runs+1 {
		t.Fatalf("a subscriber holds %d bars, want %d", n, runs+1)
	}
}

func TestEnqueueZeroAlloc(t *testing.T) {
	const runs = 100
	c := newClient(1 << 30)
	m := msgOf(1, 100)
	// Grow the queue past what the runs need, then drain all but one: the
	// queue is compacted in place and keeps its capacity.
	for range 2 * (runs + 1) {
		c.enqueue(m)
	}
	c.Drain(nil, len(m.Data)*(2*runs+1)+2*runs) // with the separators
	if n, _ := c.Len(); n != 1 || cap(c.q.q) < runs+2 {
		t.Fatalf("warm-up left %d pending, cap %d", n, cap(c.q.q))
	}
	allocs := testing.AllocsPerRun(runs, func() {
		if res, _ := c.enqueue(m); res != enqueueQueued {
			t.Fatal("enqueue failed")
		}
	})
	if allocs != 0 {
		t.Fatalf("enqueue: %v allocs, want 0", allocs)
	}
}

func TestDrainZeroAlloc(t *testing.T) {
	c := newClient(1 << 30)
	m := msgOf(1, 100)
	dst := make([]Message, 0, 8)
	allocs := testing.AllocsPerRun(100, func() {
		c.enqueue(m)
		c.enqueue(m)
		dst = c.Drain(dst[:0], 1<<20)
	})
	if allocs != 0 {
		t.Fatalf("enqueue+Drain with capacity: %v allocs, want 0", allocs)
	}
}
