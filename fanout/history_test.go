package fanout

import (
	"fmt"
	"slices"
	"testing"
)

// TestRecoverSince publishes past a ring of 8 and resubscribes with
// recovery points inside, at the edge of, and behind the ring.
func TestRecoverSince(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 2, History: 8}, "AAPL", "MSFT", "NVDA", "AMZN", "TSLA")
	for seq := uint64(1); seq <= 20; seq++ {
		for _, sym := range []string{"AAPL", "MSFT", "NVDA"} {
			e.Publish(testTick(sym, seq))
		}
	}
	waitDelivered(t, e, 60)
	c := newTestClient(e)
	since := map[string]uint64{"AAPL": 15, "MSFT": 12, "NVDA": 11, "AMZN": 0, "TSLA": 7}
	var reply Result
	res, err := e.Subscribe(c.Client, []string{"AAPL", "MSFT", "NVDA", "AMZN", "TSLA"}, Policy{Since: legacySince(since)}, func(r Result) []byte {
		reply = r
		return []byte(`{"type":"subscribed"}`)
	})
	if err != nil {
		t.Fatal(err)
	}
	// The ring holds 13..20: 12 is its edge, 11 is behind it. AMZN never
	// ticked and the client saw nothing: nothing was missed. TSLA never
	// ticked here but the client saw seq 7 elsewhere: a reset, not a
	// recovery.
	if !slices.Equal(res.Recovered, []string{"AAPL", "MSFT", "AMZN"}) || !slices.Equal(res.Snapshot, []string{"NVDA", "TSLA"}) {
		t.Fatalf("recovered %q, snapshot %q", res.Recovered, res.Snapshot)
	}
	if fmt.Sprint(reply) != fmt.Sprint(res) {
		t.Fatalf("reply saw %+v, Subscribe returned %+v", reply, res)
	}
	msgs := drainAll(c)
	if string(msgs[0].Data) != `{"type":"subscribed"}` {
		t.Fatalf("first message %q, want the reply", msgs[0].Data)
	}
	bySym := map[string][]uint64{}
	for _, tk := range decodeAll(t, msgs[1:]) {
		bySym[tk.Symbol] = append(bySym[tk.Symbol], tk.Seq)
	}
	want := map[string][]uint64{"AAPL": {16, 17, 18, 19, 20}, "MSFT": {13, 14, 15, 16, 17, 18, 19, 20}, "NVDA": {20}}
	if fmt.Sprint(bySym) != fmt.Sprint(want) {
		t.Fatalf("caught up %v, want %v", bySym, want)
	}
	checkCounter(t, e.metrics.recovered, 13)
	checkCounter(t, e.metrics.fallbacks, 2)
	e.Publish(testTick("AAPL", 21)) // live continues the recovered seqs
	waitDelivered(t, e, 61)
	checkStream(t, drainAll(c), "AAPL", 21)
}

// TestRecoverRateLimited: a max_rate subscription recovers with one tick
// standing for every missed one.
func TestRecoverRateLimited(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{History: 64}, "AAPL")
	for seq := uint64(1); seq <= 30; seq++ {
		e.Publish(testTick("AAPL", seq))
	}
	waitDelivered(t, e, 30)
	c := newTestClient(e)
	res, _ := e.Subscribe(c.Client, []string{"AAPL"}, Policy{MaxRate: 4, Since: legacySince(map[string]uint64{"AAPL": 22})}, nil)
	if !slices.Equal(res.Recovered, []string{"AAPL"}) {
		t.Fatalf("recovered %q", res.Recovered)
	}
	msgs := drainAll(c)
	if len(msgs) != 1 || msgs[0].count() != 8 || decodeAll(t, msgs)[0].Seq != 30 {
		t.Fatalf("got %d messages (n %d), want seq 30 standing for 8", len(msgs), msgs[0].count())
	}
}

// TestHistoryOff: with History 0 every recovery point falls back to the
// snapshot, except one already at the last seq.
func TestHistoryOff(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{}, "AAPL", "MSFT")
	e.Publish(testTick("AAPL", 5))
	e.Publish(testTick("MSFT", 5))
	waitDelivered(t, e, 2)
	c := newTestClient(e)
	res, _ := e.Subscribe(c.Client, []string{"AAPL", "MSFT"}, Policy{Since: legacySince(map[string]uint64{"AAPL": 4, "MSFT": 5})}, nil)
	if !slices.Equal(res.Snapshot, []string{"AAPL"}) || !slices.Equal(res.Recovered, []string{"MSFT"}) {
		t.Fatalf("recovered %q, snapshot %q", res.Recovered, res.Snapshot)
	}
	if got := len(drainAll(c)); got != 1 {
		t.Fatalf("%d messages, want AAPL's snapshot only", got)
	}
}

// TestRingWraps fills a ring of 4 past its capacity, then resizes it
// down and up: the newest records are what stay, oldest first.
func TestRingWraps(t *testing.T) {
	t.Parallel()
	var r ring[record]
	r.resize(4)
	seqs := func(a, b []record) string {
		var got []uint64
		for _, e := range append(append([]record(nil), a...), b...) {
			got = append(got, e.seq)
		}
		return fmt.Sprint(got)
	}
	if r.newest() != nil || seqs(r.ordered()) != "[]" {
		t.Fatal("an empty ring holds something")
	}
	for seq := uint64(1); seq <= 10; seq++ {
		r.put(record{seq: seq, prev: seq - 1})
	}
	a, b := r.ordered()
	if got := seqs(after(a, b, 7)); got != "[8 9 10]" {
		t.Fatalf("after(7) = %s", got)
	}
	if got := seqs(last(a, b, 3)); got != "[8 9 10]" || r.oldest().seq != 7 || r.newest().seq != 10 {
		t.Fatalf("last(3) = %s, oldest %d, newest %d", got, r.oldest().seq, r.newest().seq)
	}
	if dropped := r.resize(2); dropped != 2 || seqs(r.ordered()) != "[9 10]" {
		t.Fatalf("resize(2) dropped %d, keeps %s", dropped, seqs(r.ordered()))
	}
	r.resize(3)
	r.put(record{seq: 11})
	r.put(record{seq: 12})
	if got := seqs(r.ordered()); got != "[10 11 12]" || !r.full() {
		t.Fatalf("after growing to 3: %s", got)
	}
	if dropped := r.resize(0); dropped != 3 || r.n != 0 {
		t.Fatalf("resize(0) dropped %d, keeps %d", dropped, r.n)
	}
}
