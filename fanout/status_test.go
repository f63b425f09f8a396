package fanout

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// statusesOf drains c and returns its status messages as "status/seq/reason".
func statusesOf(tb testing.TB, c *testClient) []string {
	tb.Helper()
	var out []string
	for _, m := range decodeWire(tb, drainAll(c)) {
		if m.Type != "status" {
			continue
		}
		s := fmt.Sprintf("%s/%d", m.Status, m.Seq)
		if m.Reason != "" {
			s += "/" + m.Reason
		}
		out = append(out, s)
	}
	return out
}

func expectStatuses(tb testing.TB, c *testClient, want ...string) {
	tb.Helper()
	if got := statusesOf(tb, c); fmt.Sprint(got) != fmt.Sprint(want) {
		tb.Fatalf("statuses %v, want %v", got, want)
	}
}

func subscribeStatus(tb testing.TB, e *Engine, c *testClient, maxRate float64) Result {
	tb.Helper()
	res, err := e.Subscribe(c.Client, []string{"AAPL"}, Policy{Stream: Status, MaxRate: maxRate}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

// TestStatusStream: a symbol the feed says nothing of is open from its
// first tick; the feed's statuses follow with their seq and reason; a
// new subscriber gets the current status first, whatever its max_rate
// (which a status does not take) or since (always answered snapshot);
// and a new epoch resets the status, sending reset before the new run's.
func TestStatusStream(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{Shards: 1}, "AAPL")
	sym := e.lookup("AAPL")
	c := newTestClient(e)
	subscribeStatus(t, e, c, 0)
	put := func(in inTick) { sym.shard.deliver([]inTick{in}, 1) }
	status := func(st, reason string, seq uint64, ep string) inTick {
		return inTick{sym: sym, op: opDepth, depth: &inDepth{kind: depthStatus, status: feed.Status{Symbol: "AAPL", Status: st, Reason: reason, Seq: seq, TS: 5, Epoch: ep}}}
	}
	put(inTick{sym: sym, tick: testTick("AAPL", 1)})
	put(inTick{sym: sym, tick: testTick("AAPL", 2)})
	expectStatuses(t, c, "open/0")
	put(status("halted", "LUDP", 1, ""))
	put(inTick{sym: sym, tick: testTick("AAPL", 3)}) // a tick changes no feed status
	put(status("halted", "LUDP", 1, ""))             // a repeat: stale seq, dropped
	expectStatuses(t, c, "halted/1/LUDP")
	checkCounter(t, e.metrics.droppedDepth[depthStatus][dropStaleSeq], 1)

	late := newTestClient(e)
	if res := subscribeStatus(t, e, late, 4); res.Rate != 0 {
		t.Fatalf("a status subscription's rate %v, want 0: it takes every change", res.Rate)
	}
	expectStatuses(t, late, "halted/1/LUDP")
	again := newTestClient(e)
	res, err := e.Subscribe(again.Client, []string{"AAPL"}, Policy{Stream: Status, Since: map[string]Position{"AAPL": {1, feed.DefaultEpoch}}}, nil)
	if err != nil || len(res.Snapshot) != 1 {
		t.Fatalf("since on status: %+v %v, want snapshot", res, err)
	}
	expectStatuses(t, again, "halted/1/LUDP")

	put(status("open", "", 2, ""))
	expectStatuses(t, c, "open/2")
	put(inTick{sym: sym, tick: feed.Tick{Symbol: "AAPL", Seq: 1, Price: 1, Bid: 1, Ask: 1, TS: 9, Epoch: "run2"}})
	msgs := decodeWire(t, drainAll(c))
	if len(msgs) != 2 || msgs[0].Code != "reset" || msgs[0].Stream != "status" || msgs[1].Status != "open" || msgs[1].Seq != 0 {
		t.Fatalf("a new run: %v, want reset (stream status), then open/0", msgs)
	}
}

// TestStaleStatus, on a test clock: an open symbol with no tick for
// StaleAfter turns stale, and its next tick brings it back; a halted one
// never does; nor does any while the feed is down, and once it is up
// each has StaleAfter from then. The delayed twin has a view of its own,
// of the ticks it releases.
func TestStaleStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := newEngine(t, Config{Shards: 1, StaleAfter: 10 * time.Second, Delay: time.Minute}, "AAPL", "MSFT")
		runEngine(t, e)
		aapl, msft, twin := newTestClient(e), newTestClient(e), newTestClient(e)
		subscribeStatus(t, e, aapl, 0)
		if _, err := e.Subscribe(msft.Client, []string{"MSFT"}, Policy{Stream: Status}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Subscribe(twin.Client, []string{"AAPL"}, Policy{Stream: Status, Delayed: true}, nil); err != nil {
			t.Fatal(err)
		}
		seq := map[string]uint64{}
		tick := func(sym string) {
			seq[sym]++
			e.Publish(feed.Tick{Symbol: sym, Seq: seq[sym], Price: 1, Bid: 1, Ask: 1, TS: time.Now().UnixNano()})
			synctest.Wait()
		}
		tick("AAPL")
		tick("MSFT")
		e.PublishStatus(feed.Status{Symbol: "MSFT", Status: "halted", Reason: "T1", Seq: 1, TS: time.Now().UnixNano()})
		time.Sleep(9 * time.Second)
		synctest.Wait()
		expectStatuses(t, aapl, "open/0")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		expectStatuses(t, aapl, "stale/0")
		expectStatuses(t, msft, "open/0", "halted/1/T1")
		tick("AAPL")
		expectStatuses(t, aapl, "open/0")

		e.SetFeedUp(false)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		expectStatuses(t, aapl)
		e.SetFeedUp(true)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		expectStatuses(t, aapl)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		expectStatuses(t, aapl, "stale/0")
		expectStatuses(t, msft)

		// The twin, a minute behind: open at its first release (60 s),
		// stale ten seconds on, open again with the release at 71 s.
		time.Sleep(20 * time.Second)
		synctest.Wait()
		expectStatuses(t, twin, "open/0", "stale/0", "open/0")
	})
}

// TestStaleCheckWalksWatched: the stale check keeps only the symbols that
// are open and not stale, so what it walks follows the ticks, not the
// listings: of 1,000 listed symbols the two that tick are on its list;
// once stale they leave it, and a tick brings one back.
func TestStaleCheckWalksWatched(t *testing.T) {
	t.Parallel()
	syms := make([]string, 1000)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%03d", i)
	}
	e, _ := newEngine(t, Config{Shards: 1, StaleAfter: 10 * time.Second}, syms...)
	s := e.shards[0]
	at := int64(time.Hour)
	tick := func(sym string, seq uint64) {
		tk := testTick(sym, seq)
		tk.TS = at
		s.deliver([]inTick{{sym: e.lookup(sym), tick: tk}}, at)
	}
	tick("S000", 1)
	tick("S001", 1)
	if n := len(s.stale.watched); n != 2 {
		t.Fatalf("after two symbols ticked the stale check watches %d, want 2", n)
	}
	at += int64(11 * time.Second)
	s.flushDue(at)
	for _, sym := range []string{"S000", "S001"} {
		if st := e.lookup(sym).status.current(); st != feed.StatusStale {
			t.Fatalf("%s is %q after 11 s without a tick, want stale", sym, st)
		}
	}
	if n := len(s.stale.watched); n != 0 {
		t.Fatalf("with both stale the stale check watches %d, want none", n)
	}
	tick("S000", 2)
	if n, st := len(s.stale.watched), e.lookup("S000").status.current(); n != 1 || st != feed.StatusOpen {
		t.Fatalf("after S000 ticked again: watched %d, status %q; want 1, open", n, st)
	}
}
