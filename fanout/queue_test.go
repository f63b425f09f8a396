package fanout

import (
	"bytes"
	"testing"
)

func TestAppendToSplicesN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, `{"a":1}`}, {1, `{"a":1}`}, {2, `{"a":1,"n":2}`}, {1234, `{"a":1,"n":1234}`}} {
		m := Message{Data: []byte(`{"a":1}`), N: tc.n}
		if got := string(m.AppendTo([]byte("x"))); got != "x"+tc.want {
			t.Errorf("N=%d: %s, want x%s", tc.n, got, tc.want)
		}
		if m.wireLen() != len(tc.want) {
			t.Errorf("N=%d: wireLen %d, want %d", tc.n, m.wireLen(), len(tc.want))
		}
	}
}

// degradeFixture is an engine that is not running, with symbols whose
// ticks the test delivers, and one client whose queue conflates past 2 KiB
// and overflows past 16 KiB.
type degradeFixture struct {
	e    *Engine
	c    *testClient
	seqs map[string]uint64
}

func newDegradeFixture(t *testing.T, syms ...string) *degradeFixture {
	e, _ := newEngine(t, Config{Shards: 1, QueueBytes: 16 << 10, ConflateAt: 2 << 10}, syms...)
	f := &degradeFixture{e: e, c: newTestClient(e), seqs: map[string]uint64{}}
	if _, err := subscribe(e, f.c, syms); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *degradeFixture) tick(sym string) {
	f.seqs[sym]++
	s := f.e.lookup(sym)
	s.shard.deliver([]inTick{{sym: s, tick: testTick(sym, f.seqs[sym])}}, 0)
}

// TestDegradeConflatesThenRecovers fills a client's queue past its conflate
// mark with two symbols' ticks: it must get the conflated notice, then at
// most one tick per symbol whose n adds up, never be dropped, keep its
// replies, and get the live notice only when its writer's rule asks
// (Live), and not while a quarter of the mark is queued.
func TestDegradeConflatesThenRecovers(t *testing.T) {
	t.Parallel()
	f := newDegradeFixture(t, "AAPL", "MSFT")
	for range 100 { // ~12 KiB of FIFO ticks: far past the 2 KiB mark
		f.tick("AAPL")
		f.tick("MSFT")
		if f.seqs["AAPL"] == 50 {
			f.c.Enqueue(Message{Data: []byte(`{"type":"list","symbols":[]}`)})
		}
	}
	if f.c.Cause() != nil {
		t.Fatalf("client closed: %v", f.c.Cause())
	}
	if got := f.e.degraded.Load(); got != 1 {
		t.Fatalf("degraded clients %d, want 1", got)
	}
	msgs := f.c.Drain(nil, 1<<20)
	last := map[string]uint64{}
	var notice, reply, merged, ticks int
	for i, m := range msgs {
		switch {
		case bytes.Equal(m.Data, noticeConflated):
			notice++
		case bytes.Contains(m.Data, []byte(`"type":"list"`)):
			reply++
		case bytes.Equal(m.Data, noticeLive):
			t.Fatalf("message %d: live notice while still behind", i)
		default:
			ticks++
			tk := decodeAll(t, []Message{m})[0]
			if tk.Seq-uint64(m.count()) != last[tk.Symbol] {
				t.Fatalf("message %d: %s seq %d n %d after %d", i, tk.Symbol, tk.Seq, m.count(), last[tk.Symbol])
			}
			if m.count() > 1 && notice == 0 {
				t.Fatalf("message %d: a tick with n before the conflated notice", i)
			}
			if m.count() > 1 {
				merged++
			}
			last[tk.Symbol] = tk.Seq
		}
	}
	if notice != 1 || reply != 1 || merged != 2 || last["AAPL"] != 100 || last["MSFT"] != 100 {
		t.Fatalf("notices %d, replies %d, merged ticks %d, last %v; want 1, 1, 2, 100 each", notice, reply, merged, last)
	}
	// Drained empty, it still conflates: only its writer's rule (Live)
	// takes it back to FIFO, and not while a quarter of the mark is queued.
	f.tick("AAPL")
	if msgs = f.c.Drain(nil, 1<<20); len(msgs) != 1 || !f.c.Conflating() {
		t.Fatalf("after catching up: %d messages, conflating %v; want the tick alone, still conflating", len(msgs), f.c.Conflating())
	}
	f.c.Enqueue(Message{Data: bytes.Repeat([]byte("x"), 2<<10/4)}) // a reply of a quarter of the mark
	if f.c.Live() || !f.c.Conflating() {
		t.Fatal("Live with a quarter of the mark queued switched the queue back")
	}
	f.c.Drain(nil, 1<<20)
	if !f.c.Live() || f.c.Conflating() || f.e.degraded.Load() != 0 {
		t.Fatalf("Live on an empty queue: conflating %v, degraded %d", f.c.Conflating(), f.e.degraded.Load())
	}
	if msgs = f.c.Drain(nil, 1<<20); len(msgs) != 1 || !bytes.Equal(msgs[0].Data, noticeLive) {
		t.Fatalf("after Live: %d messages, want the live notice", len(msgs))
	}
	for range 3 { // FIFO again: every tick
		f.tick("AAPL")
	}
	if got := len(f.c.Drain(nil, 1<<20)); got != 3 {
		t.Fatalf("after live: %d messages for 3 ticks", got)
	}
	// Every merge took one message out of the queue.
	checkCounter(t, f.e.metrics.conflatedDegraded, float64(200-ticks))
}

// TestDegradedOverflowStillDrops keeps the 4001 bound: a conflating queue
// that passes its byte limit anyway (here with replies) is dropped.
func TestDegradedOverflowStillDrops(t *testing.T) {
	t.Parallel()
	f := newDegradeFixture(t, "AAPL")
	for range 30 {
		f.tick("AAPL")
	}
	for i := 0; f.c.Cause() == nil && i < 1000; i++ {
		f.c.Enqueue(Message{Data: bytes.Repeat([]byte("x"), 512)})
	}
	if f.c.Cause() != ErrSlowConsumer {
		t.Fatalf("cause %v, want ErrSlowConsumer", f.c.Cause())
	}
	if f.e.degraded.Load() != 0 {
		t.Fatalf("a closed client still counted as degraded")
	}
	checkCounter(t, f.e.metrics.slowConsumers, 1)
}

// TestConflationOffAtQueueBytes: ConflateAt equal to QueueBytes keeps the
// queue FIFO up to the drop.
func TestConflationOffAtQueueBytes(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{Shards: 1, QueueBytes: 4096, ConflateAt: 4096}, "AAPL")
	c := newTestClient(e)
	subscribe(e, c, []string{"AAPL"})
	s := e.lookup("AAPL")
	for seq := uint64(1); c.Cause() == nil; seq++ {
		s.shard.deliver([]inTick{{sym: s, tick: testTick("AAPL", seq)}}, 0)
		if seq > 100 {
			t.Fatal("never dropped")
		}
	}
	if e.degraded.Load() != 0 {
		t.Fatal("degraded with conflation off")
	}
}

// TestConflateOnRequest is the writer's switch: Conflate queues the
// conflated notice behind what is queued, which stays as it is, and merges
// only ticks queued after it; it does nothing while conflating already,
// nor with conflation off, and it starts a writer if none runs.
func TestConflateOnRequest(t *testing.T) {
	t.Parallel()
	f := newDegradeFixture(t, "AAPL")
	for range 4 {
		f.tick("AAPL")
	}
	f.c.Drain(nil, 1<<20)
	f.c.Drain(nil, 1<<20) // the writer found it empty and ended
	f.tick("AAPL")        // 5, queued before the switch: never replaced
	f.c.Conflate()
	f.c.Conflate() // already: no second notice
	if !f.c.Conflating() || f.e.degraded.Load() != 1 {
		t.Fatalf("conflating %v, degraded %d after Conflate", f.c.Conflating(), f.e.degraded.Load())
	}
	for range 3 {
		f.tick("AAPL")
	}
	msgs := f.c.Drain(nil, 1<<20)
	if len(msgs) != 3 || !bytes.Equal(msgs[1].Data, noticeConflated) {
		t.Fatalf("%d messages, want tick 5, the notice, tick 8 with n 3", len(msgs))
	}
	tk := decodeAll(t, []Message{msgs[0], msgs[2]})
	if tk[0].Seq != 5 || msgs[0].count() != 1 || tk[1].Seq != 8 || msgs[2].count() != 3 {
		t.Fatalf("ticks %d (n %d) and %d (n %d), want 5 (1) and 8 (3)", tk[0].Seq, msgs[0].count(), tk[1].Seq, msgs[2].count())
	}

	e, _ := newEngine(t, Config{Shards: 1, QueueBytes: 4096, ConflateAt: 4096}, "AAPL")
	off := newTestClient(e)
	off.Conflate()
	if off.Conflating() || len(off.Drain(nil, 1<<20)) != 0 {
		t.Fatal("Conflate with conflation off switched the queue")
	}
	idle := newTestClient(f.e)
	idle.Drain(nil, 1<<20) // no writer runs
	idle.Conflate()
	select {
	case <-idle.Ready():
	default:
		t.Fatal("Conflate on an idle client started no writer for its notice")
	}
}
