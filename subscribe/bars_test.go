package subscribe

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/wstest"
)

// publishAt publishes the next tick of sym stamped ts with price px and
// waits until the engine has taken it.
func (e *testEnv) publishAt(sym string, ts int64, px float64) {
	e.t.Helper()
	e.mu.Lock()
	e.seq[sym]++
	seq := e.seq[sym]
	e.put(feed.Tick{Symbol: sym, Seq: seq, Price: px, Size: 10, Bid: px - 0.01, Ask: px + 0.01, TS: ts})
	e.mu.Unlock()
	e.taken()
}

// expectBar reads the next message and checks it is the final bar seq of
// sym on stream whose every price is px (a one-tick bar).
func expectBar(c *wstest.Client, stream, sym string, seq uint64, px float64) msg {
	c.TB.Helper()
	m := c.Next()
	if m.Type != "bar" || m.Stream != stream || m.Sym != sym || m.Seq != seq || m.Partial ||
		m.O != px || m.H != px || m.L != px || m.C != px || m.V != 10 || m.N != 1 {
		c.TB.Fatalf("got %+v, want final %s bar #%d of %s at %g", m, stream, seq, sym, px)
	}
	return m
}

// TestBarsOverSocket drives 1s bars over a real socket: history then live
// bars with contiguous seqs, recovery with since on bar seq, list per
// stream, progress updates, and bad stream requests answered while a
// ticks bystander sees every seq.
func TestBarsOverSocket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{BarHistory: 10})
	by := e.dialSubscribed("AAPL")

	// One tick a bucket, in buckets well behind the wall clock: each tick
	// closes the bar before it. Bar k (from 1) has price 100+k, and its
	// bucket number, seq(k), as seq.
	base := (time.Now().Unix() - 60) * int64(time.Second)
	tick := func(k int) { e.publishAt("AAPL", base+int64(k-1)*int64(time.Second)+5e8, 100+float64(k)) }
	seq := func(k int) uint64 { return uint64(base/int64(time.Second)) + uint64(k-1) }
	for k := 1; k <= 6; k++ {
		tick(k)
	}
	c := e.dial("")
	c.Send(`{"op":"subscribe","id":1,"stream":"bars.1s","symbols":["AAPL"],"history":3}`)
	if r := expectReply(c, "subscribed", 1); r.Stream != "bars.1s" || !slices.Equal(r.Symbols, []string{"AAPL"}) {
		t.Fatalf("reply %+v", r)
	}
	for k := 3; k <= 5; k++ {
		expectBar(c, "bars.1s", "AAPL", seq(k), 100+float64(k))
	}
	tick(7)
	tick(8)
	expectBar(c, "bars.1s", "AAPL", seq(6), 106)
	b := expectBar(c, "bars.1s", "AAPL", seq(7), 107)
	if b.T != base+6*int64(time.Second) {
		t.Fatalf("bar #7 starts at %d, want %d", b.T, base+6*int64(time.Second))
	}

	for _, bad := range []struct{ req, code string }{
		{`{"op":"subscribe","id":2,"stream":"bars.5m","symbols":["AAPL"]}`, CodeUnknownStream},
		{`{"op":"subscribe","id":2,"stream":"bars.1s","symbols":["AAPL"],"history":11}`, CodeInvalidRequest},
		{`{"op":"subscribe","id":2,"symbols":["AAPL"],"partial":true}`, CodeInvalidRequest},
		{`{"op":"unsubscribe","id":2,"stream":"bars.1s","symbols":["AAPL"],"history":1}`, CodeInvalidRequest},
	} {
		c.Send(bad.req)
		if m := expectReply(c, "error", 2); m.Code != bad.code {
			t.Fatalf("%s: %+v, want %s", bad.req, m, bad.code)
		}
	}
	c.Send(`{"op":"subscribe","id":3,"symbols":["MSFT"]}`)
	expectReply(c, "subscribed", 3)
	c.Send(`{"op":"list","id":4}`)
	l := expectReply(c, "list", 4)
	if fmt.Sprint(l.Streams) != "map[bars.1m:[] bars.1s:[AAPL] book:[] status:[] ticks:[MSFT]]" || !slices.Equal(l.Symbols, []string{"MSFT"}) {
		t.Fatalf("list %+v", l)
	}

	// Reconnect with since on bar seq: exactly the missed bars.
	r := e.dial("")
	r.Send(fmt.Sprintf(`{"op":"subscribe","id":5,"stream":"bars.1s","symbols":["AAPL"],"since":{"AAPL":{"seq":%d,"epoch":"0"}}}`, seq(5)))
	if m := expectReply(r, "subscribed", 5); !slices.Equal(m.Recovered, []string{"AAPL"}) {
		t.Fatalf("since bar 5: %+v", m)
	}
	expectBar(r, "bars.1s", "AAPL", seq(6), 106)
	expectBar(r, "bars.1s", "AAPL", seq(7), 107)

	// Progress updates carry the seq the forming bar will have.
	p := e.dial("")
	p.Send(`{"op":"subscribe","id":6,"stream":"bars.1s","symbols":["AAPL"],"partial":true}`)
	expectReply(p, "subscribed", 6)
	expectBar(p, "bars.1s", "AAPL", seq(7), 107) // the snapshot
	tick(9)                                      // closes bar 8 and opens bar 9
	expectBar(p, "bars.1s", "AAPL", seq(8), 108)
	if m := p.Next(); m.Type != "bar" || !m.Partial || m.Seq != seq(9) || m.C != 109 {
		t.Fatalf("progress %+v, want the forming bar 9", m)
	}
	expectBar(c, "bars.1s", "AAPL", seq(8), 108)
	c.Send(`{"op":"unsubscribe","id":7,"stream":"bars.1s","symbols":["*"]}`)
	if m := expectReply(c, "unsubscribed", 7); m.Stream != "bars.1s" || !slices.Equal(m.Symbols, []string{"AAPL"}) {
		t.Fatalf("unsubscribe %+v", m)
	}
	expectTicks(by, "AAPL", 0, 9)
}

// TestDelayedBarsOverSocket runs a 300 ms delayed tier: a delayed client's
// bar is the realtime bar, marked, and comes only once the tick closing it
// is 300 ms old; a grant without the symbol is refused its bars too.
func TestDelayedBarsOverSocket(t *testing.T) {
	t.Parallel()
	e, _ := newAuthEnv(t, fanout.Config{Delay: 300 * time.Millisecond, DelayMaxBytes: 64 << 10})
	rt := e.dial("?token=all")
	dl := e.dial("?token=late")
	for _, c := range []*wstest.Client{rt, dl} {
		c.Send(`{"op":"subscribe","id":1,"stream":"bars.1s","symbols":["AAPL"]}`)
		expectReply(c, "subscribed", 1)
	}
	ms := e.dial("?token=ms")
	ms.Send(`{"op":"subscribe","id":2,"stream":"bars.1m","symbols":["AAPL"]}`)
	if m := expectReply(ms, "error", 2); m.Code != CodeForbidden {
		t.Fatalf("bars outside the grant: %+v", m)
	}

	ts1 := time.Now().UnixNano()
	e.publishAt("AAPL", ts1, 101)
	next := ts1 - ts1%int64(time.Second) + int64(time.Second) // the next bucket
	checkFor(t, 2*time.Second, func() error {
		if time.Now().UnixNano() < next {
			return fmt.Errorf("still in the first tick's second")
		}
		return nil
	})
	ts2 := time.Now().UnixNano()
	e.publishAt("AAPL", ts2, 102)
	want := expectBar(rt, "bars.1s", "AAPL", uint64(ts1/int64(time.Second)), 101)
	got := dl.Next()
	if age := time.Since(time.Unix(0, ts2)); age < 300*time.Millisecond {
		t.Fatalf("delayed bar came %v after the tick closing it, before the 300ms delay", age)
	}
	want.Delayed = true
	got.Raw, want.Raw = nil, nil // the fields must match; the bytes differ by the mark
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("delayed bar %+v, want the realtime bar marked delayed %+v", got, want)
	}
}

// TestHistoryBudget refuses a subscribe whose history for all its symbols
// would not fit under the client's conflate mark, and serves one that fits.
func TestHistoryBudget(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{BarHistory: 10, QueueBytes: 16 << 10, ConflateAt: 4 << 10}) // 16 messages
	by := e.dialSubscribed("AAPL")
	c := e.dial("")
	c.Send(`{"op":"subscribe","id":1,"stream":"bars.1m","symbols":["AAPL","MSFT"],"history":10}`)
	if m := expectReply(c, "error", 1); m.Code != CodeInvalidRequest {
		t.Fatalf("history 10 x 2 over a budget of 16: %+v", m)
	}
	c.Send(`{"op":"subscribe","id":2,"stream":"bars.1m","symbols":["AAPL","MSFT"],"history":8}`)
	expectReply(c, "subscribed", 2)
	e.publish("AAPL", 3)
	expectTicks(by, "AAPL", 0, 3)
}
