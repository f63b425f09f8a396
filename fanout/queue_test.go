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
// replies, and get the live notice once it drains with nothing merged.
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
	// The drain took everything with merges behind it: still degraded.
	// The next one, with nothing merged since, goes live.
	f.tick("AAPL")
	msgs = f.c.Drain(nil, 1<<20)
	if len(msgs) != 2 || !bytes.Equal(msgs[1].Data, noticeLive) || f.e.degraded.Load() != 0 {
		t.Fatalf("after catching up: %d messages (%q...), degraded %d; want a tick, then live", len(msgs), msgs[len(msgs)-1].Data, f.e.degraded.Load())
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
