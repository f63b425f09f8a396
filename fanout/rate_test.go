package fanout

import (
	"fmt"
	"testing"
	"time"
)

func TestClassOfRoundsDown(t *testing.T) {
	t.Parallel()
	classes, err := newRateClasses([]float64{10, 1, 2, 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req, want float64
	}{{0, 0}, {0.5, 1}, {1, 1}, {1.9, 1}, {2, 2}, {4, 2}, {9.99, 5}, {10, 10}, {1000, 10}} {
		k := classOf(classes, tc.req)
		got := 0.0
		if k > 0 {
			got = classes[k-1].rate
		}
		if got != tc.want {
			t.Errorf("max_rate %g: class rate %g, want %g", tc.req, got, tc.want)
		}
	}
	for _, bad := range [][]float64{{}, {0}, {-1}, {2, 2}, {2000}} {
		if _, err := newRateClasses(bad); err == nil && len(bad) > 0 {
			t.Errorf("newRateClasses(%v) = nil error", bad)
		}
	}
}

// rateFixture is an engine that is not running, with one symbol and a
// clock the test sets, so the throttle is checked slot by slot.
type rateFixture struct {
	t    *testing.T
	e    *Engine
	sym  *symbol
	seq  uint64
	slot int64 // the period of the class under test, ns
}

func newRateFixture(t *testing.T, rate float64) *rateFixture {
	e, _ := newEngine(t, Config{Shards: 1, RateClasses: []float64{rate}}, "AAPL")
	return &rateFixture{t: t, e: e, sym: e.lookup("AAPL"), slot: int64(float64(time.Second) / rate)}
}

// tick delivers the next tick at time at (ns).
func (f *rateFixture) tick(at int64) {
	f.seq++
	f.sym.shard.deliver([]inTick{{sym: f.sym, tick: testTick("AAPL", f.seq)}}, at)
}

func (f *rateFixture) flush(at int64) { f.sym.shard.flushDue(at) }

// expect drains c and checks it got exactly the given (seq, n) pairs.
func (f *rateFixture) expect(c *testClient, want ...[2]int64) {
	f.t.Helper()
	msgs := c.Drain(nil, 1<<20)
	var got [][2]int64
	for _, m := range msgs {
		tk := decodeAll(f.t, []Message{m})[0]
		got = append(got, [2]int64{int64(tk.Seq), m.count()})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		f.t.Fatalf("got (seq, n) %v, want %v", got, want)
	}
}

// TestThrottleLeadingAndTrailingEdge walks a 2/s class through its slots:
// the first tick of a quiet slot goes at once, later ones in the slot are
// held and only the latest goes when the slot ends, with n counting them.
func TestThrottleLeadingAndTrailingEdge(t *testing.T) {
	t.Parallel()
	f := newRateFixture(t, 2)
	c := newTestClient(f.e)
	if _, err := f.e.Subscribe(c.Client, []string{"AAPL"}, Policy{MaxRate: 3}, nil); err != nil {
		t.Fatal(err)
	}
	p := f.slot
	t0 := 1000 * p // the start of a slot
	f.tick(t0 + p/10)
	f.expect(c, [2]int64{1, 1}) // leading edge: at once
	for i := range int64(4) {
		f.tick(t0 + p/5 + i)
	}
	f.flush(t0 + p/2) // the slot has not ended: nothing goes
	f.expect(c)
	f.flush(t0 + p) // trailing edge: the latest, standing for 4
	f.expect(c, [2]int64{5, 4})
	f.tick(t0 + p + p/2) // this slot already sent (the flush): held
	f.expect(c)
	f.flush(t0 + 2*p)
	f.expect(c, [2]int64{6, 1})
	f.flush(t0 + 3*p) // nothing held: nothing sent
	f.expect(c)
	f.tick(t0 + 3*p + p/2) // quiet for a whole slot: at once again
	f.expect(c, [2]int64{7, 1})
	checkCounter(t, f.e.metrics.conflatedRate, 3)
}

// TestThrottleNeverHoldsPastOneSlot drives a class with ticks at random
// times and checks every held tick goes by the end of its slot, and that
// no slot sends twice.
func TestThrottleNeverHoldsPastOneSlot(t *testing.T) {
	t.Parallel()
	f := newRateFixture(t, 4)
	c := newTestClient(f.e)
	f.e.Subscribe(c.Client, []string{"AAPL"}, Policy{MaxRate: 4}, nil)
	p := f.slot
	now := 5000 * p
	sends := map[int64]int{} // slot -> sends in it
	var last uint64
	for i := range 2000 {
		now += int64(i*7919) % (p / 3)
		f.flush(now) // the timer: due at each slot end
		f.tick(now)
		for _, m := range c.Drain(nil, 1<<20) {
			tk := decodeAll(t, []Message{m})[0]
			if tk.Seq-uint64(m.count()) != last {
				t.Fatalf("seq %d n %d after %d: not contiguous", tk.Seq, m.count(), last)
			}
			last = tk.Seq
			if sends[now/p]++; sends[now/p] > 1 {
				t.Fatalf("slot %d sent twice", now/p)
			}
		}
		if f.sym.topics[Ticks].classes[1].pending.Data != nil && f.sym.topics[Ticks].classes[1].slot < now/p-1 {
			t.Fatalf("a tick held since slot %d at slot %d", f.sym.topics[Ticks].classes[1].slot, now/p)
		}
	}
	f.flush(now + p)
	for _, m := range c.Drain(nil, 1<<20) {
		last = decodeAll(t, []Message{m})[0].Seq
	}
	if last != f.seq {
		t.Fatalf("last seq sent %d, want %d", last, f.seq)
	}
}

// TestRatePhasesSpreadClients ticks one symbol every millisecond to ten
// clients at max_rate 4 in 5 phases. Each client still gets at most one
// message per slot of its own grid, the newest tick each time, but the
// slot ends fall at a different instant for each phase: no instant sends
// to more than the two clients of one phase, instead of all ten at once.
func TestRatePhasesSpreadClients(t *testing.T) {
	t.Parallel()
	const phases, n = 5, 10
	e, _ := newEngine(t, Config{Shards: 1, RateClasses: []float64{4}, RatePhases: phases}, "AAPL")
	f := &rateFixture{t: t, e: e, sym: e.lookup("AAPL"), slot: int64(time.Second) / 4}
	var clients []*testClient
	for range n {
		c := newTestClient(e)
		if _, err := e.Subscribe(c.Client, []string{"AAPL"}, Policy{MaxRate: 4}, nil); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	p, ms := f.slot, int64(time.Millisecond)
	offset := func(i int) int64 { return p * int64(i%phases) / phases }
	t0 := 4000 * p
	sends := make([]map[int64]bool, n) // per client: the slots of its grid it got a message in
	for i := range sends {
		sends[i] = map[int64]bool{}
	}
	for now := t0; now < t0+8*p; now += ms {
		f.flush(now) // the shard's timer, due at each slot end
		got := 0
		for i, c := range clients {
			msgs := c.Drain(nil, 1<<20)
			if len(msgs) == 0 {
				continue
			}
			got++
			slot := (now - offset(i)) / p
			if len(msgs) > 1 || sends[i][slot] {
				t.Fatalf("client %d (phase %d) got a second message in slot %d", i, i%phases, slot)
			}
			sends[i][slot] = true
			if tk := decodeAll(t, msgs)[0]; tk.Seq != f.seq {
				t.Fatalf("client %d got seq %d at %d ms, want the newest, %d", i, tk.Seq, (now-t0)/ms, f.seq)
			}
			if (now-offset(i))%p != 0 {
				t.Fatalf("client %d (phase %d) sent at %d ms, off its grid", i, i%phases, (now-t0)/ms)
			}
		}
		if got > n/phases {
			t.Fatalf("%d clients sent to at %d ms, want at most %d (one phase)", got, (now-t0)/ms, n/phases)
		}
		f.tick(now)
		for i, c := range clients { // only the very first tick goes at once
			msgs := c.Drain(nil, 1<<20)
			if len(msgs) > 0 != (now == t0) {
				t.Fatalf("client %d: %d messages at once for the tick at %d ms", i, len(msgs), (now-t0)/ms)
			}
			if len(msgs) > 0 {
				sends[i][(now-offset(i))/p] = true
			}
		}
	}
	for i := range sends {
		if len(sends[i]) < 8 {
			t.Errorf("client %d got messages in %d slots of 8 ticking, want 8", i, len(sends[i]))
		}
	}
}

// TestRateClassSharesBytes checks that subscribers of one class get the
// very same bytes, and that a class flush to 1000 of them allocates
// nothing: encode once, share.
func TestRateClassSharesBytes(t *testing.T) {
	f := newRateFixture(t, 10)
	var clients []*testClient
	for range 1000 {
		c := newTestClient(f.e)
		f.e.Subscribe(c.Client, []string{"AAPL"}, Policy{MaxRate: 10}, nil)
		clients = append(clients, c)
	}
	p := f.slot
	now := 100 * p
	round := func() { // a leading tick, two held, the flush
		f.tick(now + 1)
		f.tick(now + 2)
		f.tick(now + 3)
		f.flush(now + p)
		now += 2 * p
	}
	for range 40 { // grow every queue past what the runs need
		round()
	}
	drained := make([]Message, 0, 256)
	for _, c := range clients {
		drained = c.Drain(drained[:0], 1<<30)
	}
	a, _ := clients[0].Next(nil, 1<<20)
	if len(a) != 0 {
		t.Fatalf("queue not drained: %d left", len(a))
	}
	f.sym.shard.arena.renew()
	allocs := testing.AllocsPerRun(10, round)
	if allocs != 0 {
		t.Fatalf("a class round to 1000 subscribers: %v allocs, want 0", allocs)
	}
	m0, _ := clients[0].Next(nil, 1<<20)
	m1, _ := clients[999].Next(nil, 1<<20)
	if len(m0) != 22 || len(m1) != 22 {
		t.Fatalf("got %d and %d messages, want 22 (2 per round)", len(m0), len(m1))
	}
	for i := range m0 {
		if &m0[i].Data[0] != &m1[i].Data[0] || m0[i].N != m1[i].N {
			t.Fatalf("message %d: the two clients got different bytes", i)
		}
	}
}

// TestRateChangeLeavesNoGap moves a subscription between classes while
// its old class holds a tick: the held tick goes first, and seq plus n
// stays contiguous.
func TestRateChangeLeavesNoGap(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{Shards: 1, RateClasses: []float64{1, 2}}, "AAPL")
	sym := e.lookup("AAPL")
	c := newTestClient(e)
	res, _ := e.Subscribe(c.Client, []string{"AAPL"}, Policy{MaxRate: 1}, nil)
	if res.Rate != 1 {
		t.Fatalf("rate %g, want 1", res.Rate)
	}
	now := int64(100 * time.Second)
	for seq := uint64(1); seq <= 5; seq++ { // 1 goes, 2..5 are held
		sym.shard.deliver([]inTick{{sym: sym, tick: testTick("AAPL", seq)}}, now+int64(seq))
	}
	res, _ = e.Subscribe(c.Client, []string{"AAPL"}, Policy{}, nil)
	if res.Rate != 0 || len(res.Added) != 0 {
		t.Fatalf("resubscribe: %+v, want every tick, nothing added", res)
	}
	sym.shard.deliver([]inTick{{sym: sym, tick: testTick("AAPL", 6)}}, now+10)
	sym.shard.flushDue(now + int64(2*time.Second))
	var got []string
	for _, m := range drainAll(c) {
		got = append(got, fmt.Sprintf("%d/%d", decodeAll(t, []Message{m})[0].Seq, m.count()))
	}
	if fmt.Sprint(got) != "[1/1 5/4 6/1]" {
		t.Fatalf("seq/n %v, want [1/1 5/4 6/1]", got)
	}
}

// TestNewSubscriberNotRepeatedByHeldTick subscribes to a class while it
// holds a tick the new subscriber's snapshot already covers: the flush
// must not send that seq again.
func TestNewSubscriberNotRepeatedByHeldTick(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{Shards: 1, RateClasses: []float64{1}}, "AAPL")
	sym := e.lookup("AAPL")
	a, b := newTestClient(e), newTestClient(e)
	e.Subscribe(a.Client, []string{"AAPL"}, Policy{MaxRate: 1}, nil)
	now := int64(100 * time.Second)
	sym.shard.deliver([]inTick{{sym: sym, tick: testTick("AAPL", 1)}, {sym: sym, tick: testTick("AAPL", 2)}}, now)
	e.Subscribe(b.Client, []string{"AAPL"}, Policy{MaxRate: 1}, nil) // snapshot: seq 2
	sym.shard.flushDue(now + int64(time.Second))
	if got := len(drainAll(b)); got != 1 {
		t.Fatalf("new subscriber got %d messages, want its snapshot only", got)
	}
	checkStream(t, drainAll(a), "AAPL", 2)
}

// TestClassesGrowToHighestUsed: a topic holds a rate-class state only up
// to the highest class its subscriptions use: one for every-message
// subscribers, however many rates and phases are configured; a max_rate
// subscriber grows it, and both keep getting what they asked for.
func TestClassesGrowToHighestUsed(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{Shards: 1, RateClasses: []float64{1, 2, 4}, RatePhases: 4}, "AAPL")
	sym := e.lookup("AAPL")
	every, rated := newTestClient(e), newTestClient(e)
	mustSubscribe(t, e, every, "AAPL")
	tp := sym.topics[Ticks]
	if len(tp.classes) != 1 {
		t.Fatalf("every-message subscribers: %d class states, want 1", len(tp.classes))
	}
	if _, err := e.Subscribe(rated.Client, []string{"AAPL"}, Policy{MaxRate: 2}, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(tp.classes); n < 2 || n > 1+3*4 {
		t.Fatalf("with a max_rate 2 subscriber: %d class states, want more than 1, at most 13", n)
	}
	now := int64(100 * time.Second)
	for seq := uint64(1); seq <= 5; seq++ {
		sym.shard.deliver([]inTick{{sym: sym, tick: testTick("AAPL", seq)}}, now+int64(seq))
	}
	sym.shard.flushDue(now + int64(time.Second))
	if n := len(drainAll(every)); n != 5 {
		t.Fatalf("the every-message subscriber got %d ticks, want 5", n)
	}
	if msgs := drainAll(rated); len(msgs) != 2 || msgs[1].count() != 4 {
		t.Fatalf("the max_rate subscriber got %d messages, want the first and one standing for the other 4", len(msgs))
	}
}
