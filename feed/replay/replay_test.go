package replay

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/ticktest"
)

func TestPlaybackSamples(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path string
		read func(testing.TB, string) []feed.Tick
	}{
		{"testdata/sample.ndjson", readNDJSON},
		{"testdata/sample.csv", readCSV},
		{"testdata/sample_book.ndjson", readNDJSON}, // a plain Sink: its ticks alone
	} {
		t.Run(c.path, func(t *testing.T) {
			t.Parallel()
			want := c.read(t, c.path)
			f := newFixture(t, Config{Path: c.path, Fast: true})
			got, start, end := f.play(t)
			checkPlayback(t, got, want, start, end)

			var syms []string
			for _, tk := range want {
				if !slices.Contains(syms, tk.Symbol) {
					syms = append(syms, tk.Symbol)
				}
			}
			if got := f.src.Symbols(); !slices.Equal(got, syms) {
				t.Errorf("Symbols() = %v, want %v (order of first appearance)", got, syms)
			}
			if n := refusedTotal(t, f.reg); n != 0 {
				t.Errorf("%v refused lines in a clean file", n)
			}

			// With recorded timestamps, the file's ticks exactly, TS included.
			rec := newFixture(t, Config{Path: c.path, Fast: true, Timestamps: TimestampsRecorded})
			got, _, _ = rec.play(t)
			ticktest.Equal(t, got, want)
		})
	}
}

func TestCSVColumnsInAnyOrder(t *testing.T) {
	t.Parallel()
	want := []feed.Tick{ticktest.At("BRK.B", 1, 0), ticktest.At("AAPL", 1, time.Millisecond)}
	var b strings.Builder
	b.WriteString(" TS , venue,sym,px,seq,bid,ask,sz\r\n")
	for _, tk := range want {
		fmt.Fprintf(&b, "%d,XNYS,%s,%s,%d,%s,%s,%d\r\n", tk.TS, tk.Symbol, decimal(tk.Price), tk.Seq, decimal(tk.Bid), decimal(tk.Ask), tk.Size)
	}
	f := newFixture(t, Config{Path: writeFile(t, "t.dat", b.String()), Format: "csv", Fast: true})
	got, start, end := f.play(t)
	checkPlayback(t, got, want, start, end)
}

// spaced returns n ticks, alternating two symbols, gap apart in recorded
// time, as an NDJSON file.
func spaced(tb testing.TB, n int, gap time.Duration) (path string, ticks []feed.Tick) {
	tb.Helper()
	for i := range n {
		ticks = append(ticks, ticktest.At([]string{"AAPL", "MSFT"}[i%2], uint64(i/2+1), time.Duration(i)*gap))
	}
	return writeFile(tb, "t.ndjson", ndjson(ticks...)), ticks
}

// playPaced plays the file at path at speed inside a synctest bubble,
// where the clock moves only when every goroutine waits on it, so the
// pace is the player's own and not the machine's: the run must take
// exactly the recorded span divided by the speed (want), less at most the
// early allowance of the last tick, and every tick must leave within the
// early allowance before its due time, never after it.
func playPaced(t *testing.T, path string, ticks []feed.Tick, speed float64, want time.Duration) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Path: path}
		if speed != 1 {
			cfg.Speed = speed
		}
		f := newFixture(t, cfg)
		got, start, end := f.play(t)
		checkPlayback(t, got, ticks, start, end)
		if took := end.Sub(start); took < want-early || took > want {
			t.Errorf("playing %v of recorded time at speed %v took %v, want %v less at most %v", time.Duration(ticks[len(ticks)-1].TS-ticks[0].TS), speed, took, want, early)
		}
		for i, tk := range got {
			due := time.Duration(float64(ticks[i].TS-ticks[0].TS) / speed)
			if at := time.Duration(tk.TS - start.UnixNano()); at < due-early || at > due {
				t.Errorf("tick %d emitted %v after start, want within %v before its due time %v", i, at, early, due)
			}
		}
	})
}

func TestSpeed(t *testing.T) {
	t.Parallel()
	path, ticks := spaced(t, 41, 10*time.Millisecond) // 400ms recorded
	playPaced(t, path, ticks, 4, 100*time.Millisecond)
}

func TestRecordedSpeed(t *testing.T) {
	t.Parallel()
	path, ticks := spaced(t, 5, 50*time.Millisecond) // 200ms recorded
	playPaced(t, path, ticks, 1, 200*time.Millisecond)
}

// TestSubMillisecondGaps plays 10,001 ticks 10µs apart, 100ms recorded:
// on the fake clock each still leaves on time. Whether real timers keep
// up with such gaps is a speed question: BenchmarkSubMillisecondGaps.
func TestSubMillisecondGaps(t *testing.T) {
	t.Parallel()
	path, ticks := spaced(t, 10_001, 10*time.Microsecond)
	playPaced(t, path, ticks, 1, 100*time.Millisecond)
}

// BenchmarkSubMillisecondGaps plays 100ms of ticks 10µs apart on the real
// clock and reports how far past 100ms each play ends: a timer per tick
// would overshoot on most machines, batching what is due keeps it near.
func BenchmarkSubMillisecondGaps(b *testing.B) {
	path, _ := spaced(b, 10_001, 10*time.Microsecond)
	var over time.Duration
	for b.Loop() {
		f := newFixture(b, Config{Path: path})
		_, start, end := f.play(b)
		over += end.Sub(start) - 100*time.Millisecond
	}
	b.ReportMetric(float64(over.Microseconds())/float64(b.N), "overshoot-µs/play")
}

func TestBadLinesNDJSON(t *testing.T) {
	t.Parallel()
	good := []feed.Tick{ticktest.At("AAPL", 1, 0), ticktest.At("MSFT", 1, 1), ticktest.At("AAPL", 2, 2), ticktest.At("MSFT", 2, 3)}
	seq0 := ticktest.At("AAPL", 3, 2)
	seq0.Seq = 0
	content := ndjson(good[0], good[1]) + // lines 1, 2
		"not json\n" + // 3
		ndjson(good[2]) + // 4
		ndjson(seq0) + // 5
		"\n" + // 6: blank, skipped silently
		`{"type":"quote","sym":"AAPL"}` + "\n" + // 7
		ndjson(good[3]) // 8
	path := writeFile(t, "bad.ndjson", content)
	f := newFixture(t, Config{Path: path, Fast: true})
	got, start, end := f.play(t)
	checkPlayback(t, got, good, start, end)
	checkBadLines(t, f, path, 3, []int{3, 5, 7}, map[string]float64{"malformed": 2, "field": 1})
}

func TestBadLinesCSV(t *testing.T) {
	t.Parallel()
	content := "sym,seq,px,sz,bid,ask,ts\n" + // 1
		"AAPL,1,100.01,100,100,100.02,1732470000000000000\n" + // 2
		"AAPL,2,100.01,100,100,100.02\n" + // 3: a field short
		"AAPL,2,abc,100,100,100.02,1732470000000000001\n" + // 4: bad number
		"MSFT,1,50.5,200,50.49,50.51,1732470000000000002\n" + // 5
		"AAPL,2,100.01,-100,100,100.02,1732470000000000003\n" + // 6: negative size
		"AAPL,2,100.01,100,100,100.02,1732470000000000004\n" // 7
	path := writeFile(t, "bad.csv", content)
	f := newFixture(t, Config{Path: path, Fast: true})
	got, start, end := f.play(t)
	want := []feed.Tick{
		{Symbol: "AAPL", Seq: 1, Price: 100.01, Size: 100, Bid: 100, Ask: 100.02},
		{Symbol: "MSFT", Seq: 1, Price: 50.5, Size: 200, Bid: 50.49, Ask: 50.51},
		{Symbol: "AAPL", Seq: 2, Price: 100.01, Size: 100, Bid: 100, Ask: 100.02},
	}
	checkPlayback(t, got, want, start, end)
	// Lines 3 and 4 are both malformed, of no symbol it can tell: logged
	// once, as line 3.
	checkBadLines(t, f, path, 3, []int{3, 6}, map[string]float64{"malformed": 2, "negative_size": 1})
}

// checkBadLines checks that bad lines were counted as ticks of each
// reason, and that exactly the lines logged were logged, with the file's
// path and a summary of the bad lines.
func checkBadLines(t *testing.T, f *fixture, path string, bad int, logged []int, reasons map[string]float64) {
	t.Helper()
	log := f.log.String()
	if n := strings.Count(log, "dropped bad feed message"); n != len(logged) {
		t.Errorf("logged %d bad lines, want %d:\n%s", n, len(logged), log)
	}
	for _, n := range logged {
		if !strings.Contains(log, fmt.Sprintf("line=%d\n", n)) {
			t.Errorf("log does not name line %d:\n%s", n, log)
		}
	}
	if !strings.Contains(log, "path="+path) || !strings.Contains(log, "level=WARN") || !strings.Contains(log, fmt.Sprintf("bad_lines=%d", bad)) {
		t.Errorf("log lacks the path, level WARN or the summary of %d bad lines:\n%s", bad, log)
	}
	for reason, want := range reasons {
		if got := refused(t, f.reg, "tick", reason); got != want {
			t.Errorf("%s{kind=tick,reason=%s} = %v, want %v", feed.DecodeErrorsMetric, reason, got, want)
		}
	}
	if n := refusedTotal(t, f.reg); n != float64(bad) {
		t.Errorf("%v refused in all, want %d", n, bad)
	}
}

func TestManyBadLinesLogOnce(t *testing.T) {
	t.Parallel()
	content := ndjson(ticktest.At("AAPL", 1, 0)) + strings.Repeat("garbage\n", 25)
	f := newFixture(t, Config{Path: writeFile(t, "t.ndjson", content)})
	log := f.log.String()
	if n := strings.Count(log, "dropped bad feed message"); n != 1 {
		t.Errorf("logged %d of 25 lines alike, want 1:\n%s", n, log)
	}
	if !strings.Contains(log, "bad_lines=25") {
		t.Errorf("no summary of the 25 bad lines:\n%s", log)
	}
	if n := refused(t, f.reg, "tick", "malformed"); n != 25 {
		t.Errorf("counted %v malformed lines, want 25", n)
	}
}

// loops plays cfg until n ticks are out and returns them.
func loops(t *testing.T, cfg Config, n int) []feed.Tick {
	t.Helper()
	f := newFixture(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sink := &collector{n: n, stop: cancel}
	if err := f.src.Run(ctx, sink); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(sink.ticks) != n {
		t.Fatalf("Run stopped after %d ticks, want %d", len(sink.ticks), n)
	}
	sink.checkEpoch(t, f.src.Epoch()) // seqs go on across plays: one epoch
	return sink.ticks
}

// TestEpoch replaces the file's epochs with the run's: Config.Epoch, or a
// fresh one per Source.
func TestEpoch(t *testing.T) {
	t.Parallel()
	rec := ticktest.At("AAPL", 1, 0)
	rec.Epoch = "recorded"
	path := writeFile(t, "t.ndjson", string(rec.AppendUpstreamJSON(nil))+"\n")
	f := newFixture(t, Config{Path: path, Fast: true, Epoch: "run-7"})
	f.play(t) // checks every tick carried f.src.Epoch()
	if f.src.Epoch() != "run-7" {
		t.Fatalf("Epoch() = %q, want run-7", f.src.Epoch())
	}
	a, b := newFixture(t, Config{Path: path}).src.Epoch(), newFixture(t, Config{Path: path}).src.Epoch()
	if a == b || !feed.ValidEpoch(a) {
		t.Fatalf("two replays got epochs %q and %q, want fresh ones", a, b)
	}
	if _, err := New(Config{Path: path, Epoch: "no spaces"}, prometheus.NewRegistry(), discard()); err == nil || !strings.Contains(err.Error(), "epoch") {
		t.Fatalf("New with a bad epoch = %v, want an epoch error", err)
	}
}

// checkLoops checks that got is the file's ticks played over and over,
// seq raised by the symbol's highest seq per play, and rising per symbol.
func checkLoops(t *testing.T, got, file []feed.Tick) {
	t.Helper()
	maxSeq := map[string]uint64{}
	for _, tk := range file {
		maxSeq[tk.Symbol] = max(maxSeq[tk.Symbol], tk.Seq)
	}
	last := map[string]uint64{}
	for i, g := range got {
		play, w := uint64(i/len(file)), file[i%len(file)]
		w.Seq += play * maxSeq[w.Symbol]
		if g.Seq <= last[g.Symbol] {
			t.Fatalf("tick %d: %s seq %d after %d", i, g.Symbol, g.Seq, last[g.Symbol])
		}
		last[g.Symbol] = g.Seq
		g.TS, w.TS = 0, 0
		if g != w {
			t.Fatalf("tick %d (play %d) = %+v, want %+v", i, play, g, w)
		}
	}
}

func TestLoop(t *testing.T) {
	t.Parallel()
	file := []feed.Tick{ticktest.At("AAPL", 1, 0), ticktest.At("BRK.B", 1, 1), ticktest.At("AAPL", 2, 2), ticktest.At("AAPL", 3, 3), ticktest.At("BRK.B", 2, 4)}
	path := writeFile(t, "t.ndjson", ndjson(file...))
	checkLoops(t, loops(t, Config{Path: path, Fast: true, Loop: true}, 3*len(file)+2), file)
}

// TestLoopPaced plays a 20ms file twice on a synctest clock: each play
// is one period (30ms: the span and a mean interval) after the last, so
// the second play's last tick is due at exactly 50ms.
func TestLoopPaced(t *testing.T) {
	t.Parallel()
	file := []feed.Tick{ticktest.At("AAPL", 1, 0), ticktest.At("AAPL", 2, 10*time.Millisecond), ticktest.At("AAPL", 3, 20*time.Millisecond)}
	path := writeFile(t, "t.ndjson", ndjson(file...))
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		got := loops(t, Config{Path: path, Loop: true}, 2*len(file))
		checkLoops(t, got, file)
		if at := time.Duration(got[len(got)-1].TS - start.UnixNano()); at < 50*time.Millisecond-early || at > 50*time.Millisecond {
			t.Errorf("second play ended %v after start, want 50ms less at most %v", at, early)
		}
	})
}

// TestStopWhileWaiting cancels a Run waiting an hour for its next tick:
// on a synctest clock it must return with no time passed, not at the
// hour or at loops' 10 s deadline.
func TestStopWhileWaiting(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "t.ndjson", ndjson(ticktest.At("AAPL", 1, 0), ticktest.At("AAPL", 2, time.Hour)))
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		got := loops(t, Config{Path: path}, 1) // the sink cancels on the first tick
		if took := time.Since(start); took != 0 || len(got) != 1 {
			t.Fatalf("Run took %v and emitted %d ticks; want it to stop at once after 1", took, len(got))
		}
	})
}

func TestRunOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Path: "testdata/sample.csv", Fast: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sink := &collector{}
	if err := f.src.Run(ctx, sink); err != nil || len(sink.ticks) != 0 {
		t.Fatalf("Run with a done context = %v after %d ticks, want nil after 0", err, len(sink.ticks))
	}
	if err := f.src.Run(context.Background(), sink); err == nil {
		t.Fatal("second Run returned nil, want an error")
	}
}

func TestFormatByExtension(t *testing.T) {
	t.Parallel()
	line := "sym,seq,px,sz,bid,ask,ts\nAAPL,1,1,1,1,1,1\n"
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Path: writeFile(t, "t.CSV", line)}, true},
		{Config{Path: writeFile(t, "t.txt", line)}, false}, // read as NDJSON: no valid tick
		{Config{Path: writeFile(t, "t.txt", line), Format: "csv"}, true},
		{Config{Path: writeFile(t, "t.csv", ndjson(ticktest.At("AAPL", 1, 0))), Format: "ndjson"}, true},
	} {
		_, err := New(c.cfg, prometheus.NewRegistry(), discard())
		if (err == nil) != c.ok {
			t.Errorf("New(%+v) = %v, want ok %v", c.cfg, err, c.ok)
		}
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	good := writeFile(t, "good.ndjson", ndjson(ticktest.At("AAPL", 1, 0)))
	for name, cfg := range map[string]Config{
		"no path":        {},
		"missing file":   {Path: "testdata/nonexistent.ndjson"},
		"empty file":     {Path: writeFile(t, "t.ndjson", "\n\n")},
		"only bad lines": {Path: writeFile(t, "t.ndjson", "x\ny\n")},
		"header only":    {Path: writeFile(t, "t.csv", "sym,seq,px,sz,bid,ask,ts\n")},
		"missing column": {Path: writeFile(t, "t.csv", "sym,seq,px,sz,bid,ask\nAAPL,1,1,1,1,1\n")},
		"twice a column": {Path: writeFile(t, "t.csv", "sym,seq,px,sz,bid,ask,ts,SYM\n")},
		"long line":      {Path: writeFile(t, "t.ndjson", strings.Repeat("x", maxLine+1))},
		"format":         {Path: good, Format: "parquet"},
		"negative speed": {Path: good, Speed: -1},
		"NaN speed":      {Path: good, Speed: math.NaN()},
		"infinite speed": {Path: good, Speed: math.Inf(1)},
		"timestamps":     {Path: good, Timestamps: "wall"},
	} {
		if _, err := New(cfg, prometheus.NewRegistry(), discard()); err == nil {
			t.Errorf("%s: New(%+v) = nil error", name, cfg)
		} else if !strings.HasPrefix(err.Error(), "replay: ") {
			t.Errorf("%s: error %q lacks the package prefix", name, err)
		}
	}
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Path: "testdata/sample.csv"})
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
