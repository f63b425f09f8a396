package fanout

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/logtest"
)

// epochFixture is an engine that is not running, one shard, ticks
// delivered directly with the epoch and seq a test names.
type epochFixture struct {
	t   *testing.T
	e   *Engine
	reg *prometheus.Registry
	log *logtest.Buffer
}

func newEpochFixture(t *testing.T, cfg Config, syms ...string) *epochFixture {
	t.Helper()
	buf := &logtest.Buffer{}
	cfg.Shards, cfg.Logger = 1, slog.New(slog.NewTextHandler(buf, nil))
	e, reg := newEngine(t, cfg, syms...)
	return &epochFixture{t: t, e: e, reg: reg, log: buf}
}

// tick delivers sym's tick seq of epoch ep at feed time ts (and wall time
// ts).
func (f *epochFixture) tick(sym, ep string, seq uint64, ts int64) {
	tk := testTick(sym, seq)
	tk.Epoch, tk.TS = ep, ts
	s := f.e.lookup(sym)
	s.shard.deliver([]inTick{{sym: s, tick: tk}}, ts)
}

// run delivers seqs of ep for sym, one a millisecond from baseTS+at.
func (f *epochFixture) run(sym, ep string, at int64, seqs ...uint64) {
	for i, seq := range seqs {
		f.tick(sym, ep, seq, baseTS+at+int64(i)*int64(time.Millisecond))
	}
}

func (f *epochFixture) subscribe(c *testClient, p Policy, syms ...string) Result {
	f.t.Helper()
	res, err := f.e.Subscribe(c.Client, syms, p, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return res
}

// wire is what c has pending, as written: a tick as "#seq" ("#seq/nK"
// when it stands for K > 1), anything else as its bytes.
func wire(tb testing.TB, c *testClient) []string {
	tb.Helper()
	var out []string
	for _, m := range drainAll(c) {
		if t, err := feed.DecodeJSON(m.Data); err == nil && t.Symbol != "" {
			s := fmt.Sprintf("#%d", t.Seq)
			if m.N > 1 {
				s += fmt.Sprintf("/n%d", m.N)
			}
			out = append(out, s)
			continue
		}
		out = append(out, string(m.AppendTo(nil)))
	}
	return out
}

const resetB = `{"type":"notice","code":"reset","sym":"AAPL","epoch":"b"}`

// TestEpochResetThenNewRun: a tick of a new epoch resets the symbol: each
// subscriber gets the reset notice, then the new run at once from seq 1,
// nothing of it dropped as stale; the snapshot and history are the new
// run's.
func TestEpochResetThenNewRun(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{History: 16}, "AAPL", "MSFT")
	every, rated := newTestClient(f.e), newTestClient(f.e)
	f.subscribe(every, Policy{}, "AAPL")
	f.subscribe(rated, Policy{MaxRate: 1}, "AAPL")
	f.run("AAPL", "a", 0, 1, 2, 3, 4, 5)
	if got := fmt.Sprint(wire(t, every)); got != "[#1 #2 #3 #4 #5]" {
		t.Fatalf("run a: %s", got)
	}
	wire(t, rated) // #1 on the leading edge; #5 held for the slot's end
	f.run("AAPL", "b", int64(10*time.Millisecond), 1, 2)
	if got, want := fmt.Sprint(wire(t, every)), "["+resetB+" #1 #2]"; got != want {
		t.Fatalf("after the restart: %s, want %s", got, want)
	}
	f.e.shards[0].flushDue(baseTS + int64(2*time.Second))
	if got := wire(t, rated); len(got) != 2 || got[0] != resetB || got[1] != "#2/n2" {
		t.Fatalf("rate-limited: %v, want the reset notice then #2 of the new run for both its ticks, and nothing of the old", got)
	}
	checkCounter(t, f.e.metrics.staleTicks, 0)
	if last, _ := f.e.Last("AAPL"); last.Seq != 2 || last.Epoch != "b" {
		t.Fatalf("last %+v, want b#2", last)
	}
	late := newTestClient(f.e)
	res := f.subscribe(late, Policy{Since: map[string]Position{"AAPL": {Seq: 1, Epoch: "b"}}}, "AAPL")
	if fmt.Sprint(res.Recovered, res.Epochs) != "[AAPL] map[AAPL:b]" || fmt.Sprint(wire(t, late)) != "[#2]" {
		t.Fatalf("since b#1: %+v", res)
	}
}

// TestEpochResetAllTopics: every topic of the symbol, bars included,
// resets, with "stream" on the bar topic's notice; the forming bar of the
// old run is never sent.
func TestEpochResetAllTopics(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{BarHistory: 4}, "AAPL", "MSFT")
	bars := newTestClient(f.e)
	f.subscribe(bars, Policy{Stream: Bars1s}, "AAPL")
	f.tick("AAPL", "a", 1, sec(1000.1))
	f.tick("AAPL", "a", 2, sec(1001.1)) // closes bucket 1000
	f.tick("AAPL", "b", 1, sec(1001.5)) // bucket 1001 of run a is dropped
	f.tick("AAPL", "b", 2, sec(1002.1)) // closes bucket 1001 of run b
	got := wire(t, bars)
	want := []string{`"seq":1000,"prev":0`, `{"type":"notice","code":"reset","stream":"bars.1s","sym":"AAPL","epoch":"b"}`, `"seq":1001,"prev":0`}
	if len(got) != len(want) {
		t.Fatalf("bars across a restart: %v", got)
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Fatalf("message %d: %s, want %s", i, got[i], want[i])
		}
	}
	if got := testutil.ToFloat64(f.e.metrics.bars[Bars1s]); got != 2 {
		t.Fatalf("%v final bars, want 2", got)
	}
}

// TestEpochConflict: once a symbol moved on to a new epoch, ticks of the
// retired one (a second publisher) are dropped and counted, never taken
// for another reset, and logged once.
func TestEpochConflict(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{}, "AAPL", "MSFT")
	c := newTestClient(f.e)
	f.subscribe(c, Policy{}, "AAPL")
	f.run("AAPL", "a", 0, 1, 2)
	f.run("AAPL", "b", int64(time.Second), 1)
	for i := range 10 { // the two publishers interleave
		f.tick("AAPL", "a", uint64(3+i), baseTS+int64(2*time.Second)+int64(2*i))
		f.tick("AAPL", "b", uint64(2+i), baseTS+int64(2*time.Second)+int64(2*i+1))
	}
	got := wire(t, c)
	if len(got) != 2+1+11 || got[2] != resetB || got[3] != "#1" || got[13] != "#11" {
		t.Fatalf("messages %v, want run a #1-#2, one reset, run b #1-#11", got)
	}
	checkCounter(t, f.e.metrics.epochConflicts, 10)
	checkCounter(t, f.e.metrics.staleTicks, 0)
	if n := strings.Count(f.log.String(), "epoch conflict"); n != 1 {
		t.Fatalf("%d conflict log lines, want 1:\n%s", n, f.log.String())
	}
}

// TestEpochDefault: ticks with no epoch are epoch "0", and one of a
// publisher with epochs after them is a reset like any other.
func TestEpochDefault(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{}, "AAPL", "MSFT")
	c := newTestClient(f.e)
	f.run("AAPL", "", 0, 1, 2)
	if res := f.subscribe(c, Policy{}, "AAPL"); res.Epochs["AAPL"] != feed.DefaultEpoch {
		t.Fatalf("epochs %v, want AAPL:%s", res.Epochs, feed.DefaultEpoch)
	}
	f.run("AAPL", "b", int64(time.Second), 1)
	if got := fmt.Sprint(wire(t, c)); got != "[#2 "+resetB+" #1]" {
		t.Fatalf("got %s", got)
	}
	f.tick("AAPL", "bad epoch", 5, baseTS+int64(2*time.Second))
	checkCounter(t, f.e.metrics.invalidEpochs, 1)
}

// TestGapNotice: a seq that skips ahead is preceded by a gap notice naming
// the missing seqs, for every subscriber, rate-limited ones too.
func TestGapNotice(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{History: 16}, "AAPL", "MSFT")
	every, rated := newTestClient(f.e), newTestClient(f.e)
	f.subscribe(every, Policy{}, "AAPL")
	f.subscribe(rated, Policy{MaxRate: 1}, "AAPL")
	f.run("AAPL", "a", 0, 1, 2, 5, 6)
	const gap = `{"type":"notice","code":"gap","sym":"AAPL","from":3,"to":4}`
	if got, want := fmt.Sprint(wire(t, every)), "[#1 #2 "+gap+" #5 #6]"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	f.e.shards[0].flushDue(baseTS + int64(2*time.Second))
	if got, want := fmt.Sprint(wire(t, rated)), "[#1 "+gap+" #6/n3]"; got != want { // 6 for 2, 5 and 6
		t.Fatalf("rate-limited: %s, want %s", got, want)
	}
}

// TestGapNoticeConflating: in a conflating queue a tick after the gap
// notice is never merged into one queued before it, so the notice still
// comes first.
func TestGapNoticeConflating(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{QueueBytes: 1 << 20, ConflateAt: 400}, "AAPL", "MSFT")
	c := newTestClient(f.e)
	f.subscribe(c, Policy{}, "AAPL", "MSFT")
	f.run("AAPL", "a", 0, 1, 2, 3, 4, 5)
	f.run("MSFT", "a", 0, 1, 2, 3)
	c.mu.Lock()
	conflating := c.q.conflating
	c.mu.Unlock()
	if !conflating {
		t.Fatal("the queue does not conflate; raise the ticks")
	}
	f.run("AAPL", "a", int64(time.Second), 9, 10)
	got := wire(t, c)
	i := strings.Index(strings.Join(got, " "), `"from":6,"to":8`)
	j := strings.Index(strings.Join(got, " "), "#10")
	if i < 0 || j < i {
		t.Fatalf("the gap notice must come before #10: %v", got)
	}
}

// TestSinceEpochAndHoles: a since of another epoch is never recovered;
// one across a hole in the history is not either; the legacy form still
// recovers within the current epoch.
func TestSinceEpochAndHoles(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{History: 16}, "AAPL", "MSFT")
	f.run("AAPL", "a", 0, 1, 2, 3)
	f.run("AAPL", "b", int64(time.Second), 1, 2, 5, 6)
	for _, tc := range []struct {
		since Position
		want  string
	}{
		{Position{Seq: 1, Epoch: "a"}, "snapshot [#6]"},     // the old run
		{Position{Seq: 1, Epoch: "b"}, "snapshot [#6]"},     // across the hole 3-4
		{Position{Seq: 2, Epoch: "b"}, "snapshot [#6]"},     // at the hole's edge
		{Position{Seq: 4, Epoch: "b"}, "recovered [#5 #6]"}, // seen elsewhere: nothing missing after it
		{Position{Seq: 5, Epoch: "b"}, "recovered [#6]"},
		{Position{Seq: 6, Epoch: "b"}, "recovered []"},    // up to date
		{Position{Seq: 7, Epoch: "b"}, "snapshot [#6]"},   // ahead of this gateway
		{Position{Seq: 5}, "recovered [#6]"},              // legacy
		{Position{Seq: 2, Epoch: "zzz"}, "snapshot [#6]"}, // unknown epoch
		{Position{Seq: 5, Epoch: "b0"}, "snapshot [#6]"},  // not b
		{Position{Seq: 3, Epoch: ""}, "snapshot [#6]"},    // legacy across the hole
		{Position{Seq: 0, Epoch: "b"}, "snapshot [#6]"},   // from the run's start: across the hole
		{Position{Seq: 6, Epoch: "a"}, "snapshot [#6]"},   // the right seq of the wrong run
	} {
		c := newTestClient(f.e)
		res := f.subscribe(c, Policy{Since: map[string]Position{"AAPL": tc.since}}, "AAPL")
		how := "snapshot"
		if len(res.Recovered) == 1 {
			how = "recovered"
		}
		if got := fmt.Sprint(how, " ", wire(t, c)); got != tc.want {
			t.Errorf("since %+v: %s, want %s", tc.since, got, tc.want)
		}
	}
}

// TestDelayedTwinResetsOnRelease: the delayed tier resets when the new
// run's first tick leaves the delay line, after the old run's last.
func TestDelayedTwinResetsOnRelease(t *testing.T) {
	t.Parallel()
	const delay = int64(time.Second)
	f := newEpochFixture(t, Config{Delay: time.Duration(delay)}, "AAPL", "MSFT")
	late := newTestClient(f.e)
	f.subscribe(late, Policy{Delayed: true}, "AAPL")
	f.run("AAPL", "a", 0, 1, 2)
	f.run("AAPL", "b", int64(100*time.Millisecond), 1)
	if got := wire(t, late); len(got) != 0 {
		t.Fatalf("delayed before its time: %v", got)
	}
	f.e.shards[0].flushDue(baseTS + delay + int64(50*time.Millisecond))
	if got := wire(t, late); len(got) != 2 {
		t.Fatalf("the old run's delayed ticks: %v", got)
	}
	f.e.shards[0].flushDue(baseTS + delay + int64(200*time.Millisecond))
	if got, want := fmt.Sprint(wire(t, late)), "["+resetB+" #1]"; got != want {
		t.Fatalf("at the new run's release: %s, want %s", got, want)
	}
}

// TestDelayLineKeepsEpochsApart: under its byte bound the delay line
// merges held ticks, but never a tick of the old run into one of the new:
// the new run's first tick stands for itself alone.
func TestDelayLineKeepsEpochsApart(t *testing.T) {
	t.Parallel()
	const delay = int64(time.Second)
	f := newEpochFixture(t, Config{Delay: time.Duration(delay), DelayMaxBytes: int(2 * heldTickBytes)}, "AAPL")
	late := newTestClient(f.e)
	f.subscribe(late, Policy{Delayed: true}, "AAPL")
	f.run("AAPL", "a", 0, 1)
	f.e.shards[0].flushDue(baseTS + delay + int64(20*time.Millisecond))
	f.run("AAPL", "a", int64(100*time.Millisecond), 2)
	f.run("AAPL", "b", int64(200*time.Millisecond), 1, 2) // past the bound: a#2 goes
	f.e.shards[0].flushDue(baseTS + 2*delay)
	if got, want := fmt.Sprint(wire(t, late)), "[#1 "+resetB+" #1 #2]"; got != want {
		t.Fatalf("delayed: %s, want %s", got, want)
	}
}

// TestFirstEpochNamed: a client that subscribed before a symbol's first
// tick was told no epoch in its reply; the first tick names it to it in an
// epoch notice on every topic it holds, before the tick, and that is no
// reset: a client that subscribed later, and was told the epoch, gets none.
func TestFirstEpochNamed(t *testing.T) {
	t.Parallel()
	f := newEpochFixture(t, Config{History: 16}, "AAPL")
	early := newTestClient(f.e)
	f.subscribe(early, Policy{}, "AAPL")
	f.run("AAPL", "a", 0, 1)
	late := newTestClient(f.e)
	f.subscribe(late, Policy{}, "AAPL")
	f.run("AAPL", "a", 0, 2)
	var got []string
	msgs, _ := early.Next(nil, 1<<20)
	for _, m := range msgs {
		got = append(got, string(m.AppendTo(nil)))
	}
	if len(got) != 3 || got[0] != `{"type":"notice","code":"epoch","sym":"AAPL","epoch":"a"}` {
		t.Fatalf("early subscriber got %v, want the epoch notice, then #1 and #2", got)
	}
	if got := wire(t, late); len(got) != 2 || got[1] != "#2" {
		t.Fatalf("late subscriber got %v, want the snapshot #1 and #2, and no notice", got)
	}
}
