package fanout

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// delayFixture is an engine with a delayed tier that is not running, and
// a clock the test sets.
type delayFixture struct {
	t     *testing.T
	e     *Engine
	delay int64
	seqs  map[string]uint64
}

func newDelayFixture(t *testing.T, cfg Config, syms ...string) *delayFixture {
	cfg.Shards, cfg.Delay = 1, 300*time.Millisecond
	e, _ := newEngine(t, cfg, syms...)
	return &delayFixture{t: t, e: e, delay: int64(cfg.Delay), seqs: map[string]uint64{}}
}

// tick delivers sym's next tick with feed time at.
func (f *delayFixture) tick(sym string, at int64) {
	f.seqs[sym]++
	tk := testTick(sym, f.seqs[sym])
	tk.TS = at
	s := f.e.lookup(sym)
	s.shard.deliver([]inTick{{sym: s, tick: tk}}, at)
}

func (f *delayFixture) clock(now int64) { f.e.shards[0].flushDue(now) }

// ticks drains c and returns "sym/seq/n" per delayed tick; it fails on
// a tick without "delayed":true.
func (f *delayFixture) ticks(c *testClient) []string {
	f.t.Helper()
	var out []string
	for _, m := range drainAll(c) {
		if !bytes.Contains(m.Data, []byte(`,"delayed":true}`)) {
			f.t.Fatalf("delayed subscriber got %s", m.Data)
		}
		tk, err := feed.DecodeJSON(m.Data)
		if err != nil {
			f.t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%d/%d", tk.Symbol, tk.Seq, m.count()))
	}
	return out
}

func TestDelayedTierReleasesAfterDelay(t *testing.T) {
	t.Parallel()
	f := newDelayFixture(t, Config{History: 16}, "AAPL")
	rt, dl := newTestClient(f.e), newTestClient(f.e)
	subscribe(f.e, rt, []string{"AAPL"})
	if _, err := f.e.Subscribe(dl.Client, []string{"AAPL"}, Policy{Delayed: true}, nil); err != nil {
		t.Fatal(err)
	}
	t0 := int64(1000 * time.Second)
	ms := int64(time.Millisecond)
	for i := range int64(5) {
		f.tick("AAPL", t0+i*10*ms)
	}
	if got := len(drainAll(rt)); got != 5 {
		t.Fatalf("realtime client got %d ticks at once, want 5", got)
	}
	f.clock(t0 + 299*ms)
	if got := f.ticks(dl); len(got) != 0 {
		t.Fatalf("released before the delay: %v", got)
	}
	f.clock(t0 + 325*ms) // ticks 1..3 (ts +0, +10, +20) are due
	if got := fmt.Sprint(f.ticks(dl)); got != "[AAPL/1/1 AAPL/2/1 AAPL/3/1]" {
		t.Fatalf("at +325ms released %s", got)
	}
	f.clock(t0 + time.Second.Nanoseconds())
	if got := fmt.Sprint(f.ticks(dl)); got != "[AAPL/4/1 AAPL/5/1]" {
		t.Fatalf("at +1s released %s", got)
	}
	// The delayed stream has its own snapshot and history.
	late := newTestClient(f.e)
	res, _ := f.e.Subscribe(late.Client, []string{"AAPL"}, Policy{Delayed: true, Since: legacySince(map[string]uint64{"AAPL": 2})}, nil)
	if fmt.Sprint(res.Recovered) != "[AAPL]" || fmt.Sprint(f.ticks(late)) != "[AAPL/3/1 AAPL/4/1 AAPL/5/1]" {
		t.Fatalf("delayed recovery: %+v", res)
	}
	f.tick("AAPL", t0+2*time.Second.Nanoseconds())
	snap := newTestClient(f.e)
	f.e.Subscribe(snap.Client, []string{"AAPL"}, Policy{Delayed: true}, nil)
	if got := fmt.Sprint(f.ticks(snap)); got != "[AAPL/5/1]" {
		t.Fatalf("delayed snapshot %s, want seq 5: tick 6 is not 300ms old yet", got)
	}
}

// TestDelayLineBound fills a line bounded at 10 ticks with a hot and a
// quiet symbol: the hot one's oldest ticks merge, the bound holds, and
// the delayed stream stays contiguous with n.
func TestDelayLineBound(t *testing.T) {
	t.Parallel()
	f := newDelayFixture(t, Config{DelayMaxBytes: int(10 * heldTickBytes)}, "AAPL", "MSFT")
	dl := newTestClient(f.e)
	f.e.Subscribe(dl.Client, []string{"AAPL", "MSFT"}, Policy{Delayed: true}, nil)
	t0 := int64(1000 * time.Second)
	for i := range int64(30) {
		sym := "AAPL"
		if i%6 == 0 {
			sym = "MSFT"
		}
		f.tick(sym, t0+i*int64(time.Millisecond))
		if ticks, b := f.e.delayHeld(); b > 10*heldTickBytes || ticks > 10 {
			t.Fatalf("delay line at %d ticks, %d bytes: past its bound", ticks, b)
		}
	}
	f.clock(t0 + int64(time.Second))
	last := map[string]uint64{}
	for _, s := range f.ticks(dl) {
		var sym string
		var seq, n uint64
		fmt.Sscanf(s, "%4s/%d/%d", &sym, &seq, &n)
		if seq-n != last[sym] {
			t.Fatalf("%s: gap or repeat at %v", s, last)
		}
		last[sym] = seq
	}
	if last["AAPL"] != 25 || last["MSFT"] != 5 {
		t.Fatalf("released through %v, want AAPL 25, MSFT 5", last)
	}
	checkCounter(t, f.e.metrics.conflatedDelay, 20)
	if ticks, b := f.e.delayHeld(); ticks != 0 || b != 0 {
		t.Fatalf("line holds %d ticks, %d bytes after releasing all", ticks, b)
	}
}

func TestDelayedNeedsTier(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{}, "AAPL")
	c := newTestClient(e)
	if _, err := e.Subscribe(c.Client, []string{"AAPL"}, Policy{Delayed: true}, nil); err != ErrNoDelayedTier {
		t.Fatalf("delayed subscribe without a tier: %v", err)
	}
}
