package replay

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/ticktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ndjson returns ticks as NDJSON.
func ndjson(ticks ...feed.Tick) string {
	var b []byte
	for _, t := range ticks {
		b = append(t.AppendJSON(b), '\n')
	}
	return string(b)
}

// writeFile writes content to name in a fresh directory and returns the path.
func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// fixture is a Source under test with its registry and log.
type fixture struct {
	src *Source
	reg *prometheus.Registry
	log *bytes.Buffer
}

// newFixture builds a Source from cfg or fails the test.
func newFixture(tb testing.TB, cfg Config) *fixture {
	tb.Helper()
	f := &fixture{reg: prometheus.NewRegistry(), log: &bytes.Buffer{}}
	src, err := New(cfg, f.reg, slog.New(slog.NewTextHandler(f.log, nil)))
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	f.src = src
	return f
}

// play runs the Source to its end, at most 10s, and returns what it
// emitted and when Run started and returned.
func (f *fixture) play(tb testing.TB) (got []feed.Tick, start, end time.Time) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sink := &collector{}
	start = time.Now()
	if err := f.src.Run(ctx, sink); err != nil {
		tb.Fatalf("Run: %v", err)
	}
	sink.checkEpoch(tb, f.src.Epoch())
	end = time.Now()
	if ctx.Err() != nil {
		tb.Fatal("Run did not finish the file within 10s")
	}
	return sink.ticks, start, end
}

// collector keeps every tick, its epoch taken off into epochs so that it
// compares with the file's. Run calls it from the test's goroutine.
type collector struct {
	ticks  []feed.Tick
	epochs map[string]int     // ticks per epoch
	n      int                // with stop: cancel once n ticks are in
	stop   context.CancelFunc // nil: never cancel
}

func (c *collector) Publish(t feed.Tick) {
	if c.stop != nil && len(c.ticks) == c.n {
		return // Run may emit a few more before it sees the cancel
	}
	if c.epochs == nil {
		c.epochs = map[string]int{}
	}
	c.epochs[t.Epoch]++
	t.Epoch = ""
	c.ticks = append(c.ticks, t)
	if c.stop != nil && len(c.ticks) == c.n {
		c.stop()
	}
}

// checkEpoch fails unless every tick carried epoch.
func (c *collector) checkEpoch(tb testing.TB, epoch string) {
	tb.Helper()
	if len(c.ticks) > 0 && (len(c.epochs) != 1 || c.epochs[epoch] == 0) {
		tb.Fatalf("ticks per epoch %v, want all in %q", c.epochs, epoch)
	}
}

// checkPlayback fails unless got is want apart from TS, and every TS is
// the emission time: within [start, end] and never decreasing.
func checkPlayback(tb testing.TB, got, want []feed.Tick, start, end time.Time) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("played %d ticks, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.TS < start.UnixNano() || g.TS > end.UnixNano() || (i > 0 && g.TS < got[i-1].TS) {
			tb.Fatalf("tick %d: TS %d outside the run [%d, %d] or before tick %d's", i, g.TS, start.UnixNano(), end.UnixNano(), i-1)
		}
		g.TS, w.TS = 0, 0
		if g != w {
			tb.Fatalf("tick %d = %+v, want %+v (TS aside)", i, g, w)
		}
	}
}

// readNDJSON decodes every non-blank tick line of the NDJSON file at
// path; lines of another type (book, status) are left out.
func readNDJSON(tb testing.TB, path string) []feed.Tick {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var ticks []feed.Tick
	for line := range strings.Lines(string(b)) {
		var head struct{ Type string }
		if strings.TrimSpace(line) == "" || json.Unmarshal([]byte(line), &head) == nil && head.Type != "" && head.Type != "tick" {
			continue
		}
		t, err := feed.DecodeJSON([]byte(line))
		if err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		ticks = append(ticks, t)
	}
	return ticks
}

// readCSV reads the CSV file at path with encoding/csv, independently of
// the package's own decoder.
func readCSV(tb testing.TB, path string) []feed.Tick {
	tb.Helper()
	fh, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	header, err := r.Read()
	if err != nil {
		tb.Fatal(err)
	}
	col := map[string]int{}
	for i, name := range header {
		col[name] = i
	}
	var ticks []feed.Tick
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return ticks
		}
		if err != nil {
			tb.Fatal(err)
		}
		var t feed.Tick
		var errs [6]error
		t.Symbol = rec[col["sym"]]
		t.Seq, errs[0] = strconv.ParseUint(rec[col["seq"]], 10, 64)
		t.Price, errs[1] = strconv.ParseFloat(rec[col["px"]], 64)
		t.Size, errs[2] = strconv.ParseInt(rec[col["sz"]], 10, 64)
		t.Bid, errs[3] = strconv.ParseFloat(rec[col["bid"]], 64)
		t.Ask, errs[4] = strconv.ParseFloat(rec[col["ask"]], 64)
		t.TS, errs[5] = strconv.ParseInt(rec[col["ts"]], 10, 64)
		if err := errors.Join(errs[:]...); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		ticks = append(ticks, t)
	}
}

// refused returns the replay source's decode-errors count of kind and
// reason in reg.
func refused(tb testing.TB, reg *prometheus.Registry, kind, reason string) float64 {
	tb.Helper()
	return ticktest.Refused(tb, reg, "replay", kind, reason)
}

// refusedTotal returns the replay source's decode errors in reg.
func refusedTotal(tb testing.TB, reg *prometheus.Registry) float64 {
	tb.Helper()
	return ticktest.RefusedTotal(tb, reg, "replay")
}

// discard is a logger that drops everything.
func discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}
