package replay

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/sim"
)

var update = flag.Bool("update", false, "rewrite testdata/sample.ndjson, sample.csv and sample_book.ndjson")

// Shape of the generated samples.
const (
	sampleTicks    = 2000
	sampleCSVTicks = 200
	sampleSeed     = 7
	sampleStart    = int64(1732470000000000000) // 2024-11-24T17:40:00Z
)

// firstN keeps the first n ticks of a sim run, then cancels it.
type firstN struct {
	ticks []feed.Tick
	n     int
	stop  context.CancelFunc
}

func (f *firstN) Publish(t feed.Tick) {
	if len(f.ticks) == f.n {
		return // Run may finish its current burst after stop
	}
	if f.ticks = append(f.ticks, t); len(f.ticks) == f.n {
		f.stop()
	}
}

// TestGenerateSample rewrites the sample files from the sim feed:
//
//	go test ./feed/replay -run TestGenerateSample -update
//
// Symbols, seqs and prices come from sim with a fixed seed; the recorded
// timestamps are made up from a seeded RNG (1-19 ms apart, about 20 s in
// all), since sim stamps ticks with the wall clock.
func TestGenerateSample(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the sample files")
	}
	src, err := sim.New(sim.Config{Seed: sampleSeed, Rate: 1_000_000, Symbols: sim.DefaultSymbols[:10]})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sink := &firstN{n: sampleTicks, stop: cancel}
	if err := src.Run(ctx, sink); err != nil {
		t.Fatal(err)
	}
	if len(sink.ticks) != sampleTicks {
		t.Fatalf("sim gave %d ticks, want %d", len(sink.ticks), sampleTicks)
	}
	rng := rand.New(rand.NewPCG(sampleSeed, 0))
	ts := sampleStart
	var ndjson, csv []byte
	csv = append(csv, "sym,seq,px,sz,bid,ask,ts\n"...)
	for i, tk := range sink.ticks {
		ts += int64(time.Millisecond) * (1 + rng.Int64N(19))
		tk.TS = ts
		ndjson = append(tk.AppendJSON(ndjson), '\n')
		if i < sampleCSVTicks {
			csv = fmt.Appendf(csv, "%s,%d,%s,%d,%s,%s,%d\n", tk.Symbol, tk.Seq, decimal(tk.Price), tk.Size, decimal(tk.Bid), decimal(tk.Ask), tk.TS)
		}
	}
	for name, b := range map[string][]byte{"sample.ndjson": ndjson, "sample.csv": csv} {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// decimal formats x as AppendJSON does: shortest, never in exponent form.
func decimal(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// recorder keeps a sim run's messages, ticks, books and status, each as
// its upstream line without an epoch, and each stamped with a made-up
// recorded time: 1-19 ms after the tick before it (a book or status goes
// with the tick it precedes or follows). It stops the run once some
// symbol has halted and opened again, n ticks have come since, and every
// symbol is open, so that a looped replay starts its next play open.
type recorder struct {
	lines    [][]byte
	rng      *rand.Rand
	ts       int64
	reopened bool
	after    int            // ticks since a reopening
	closed   map[string]int // symbols not open
	n        int
	stop     context.CancelFunc
}

func (r *recorder) done() bool { return r.reopened && r.after >= r.n && len(r.closed) == 0 }

func (r *recorder) Publish(t feed.Tick) {
	if r.done() {
		return
	}
	r.ts += int64(time.Millisecond) * (1 + r.rng.Int64N(19))
	t.TS, t.Epoch = r.ts, ""
	r.lines = append(r.lines, t.AppendUpstreamJSON(nil))
	if r.reopened {
		r.after++
	}
	r.stopIfDone()
}

// stopIfDone stops the run once the recording is complete.
func (r *recorder) stopIfDone() {
	if r.done() {
		r.stop()
	}
}

func (r *recorder) PublishBook(m feed.Book) {
	if r.done() {
		return
	}
	m.TS, m.Epoch = r.ts, ""
	r.lines = append(r.lines, m.AppendUpstreamJSON(nil))
}

func (r *recorder) PublishStatus(st feed.Status) {
	if r.done() {
		return
	}
	r.reopened = r.reopened || st.Seq > 1 && st.Status == feed.StatusOpen
	if st.Status == feed.StatusOpen {
		delete(r.closed, st.Symbol)
	} else {
		r.closed[st.Symbol]++
	}
	st.TS, st.Epoch = r.ts, ""
	r.lines = append(r.lines, st.AppendUpstreamJSON(nil))
	r.stopIfDone()
}

// TestGenerateSampleBook rewrites testdata/sample_book.ndjson from the
// sim feed with books (depth 5) and frequent halts, on 2 symbols, until
// one of them has halted and reopened, 100 ticks more have come and all
// are open:
//
//	go test ./feed/replay -run TestGenerateSampleBook -update
//
// The sim runs at its real pace (1000 turns a second, a few seconds), as
// its halts come in feed time.
func TestGenerateSampleBook(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the sample files")
	}
	src, err := sim.New(sim.Config{Seed: sampleSeed, Rate: 1000, Symbols: []string{"AAPL", "BRK.B"},
		Book: true, Depth: 5, Churn: 0.25, HaltsPerHour: 3600, HaltDuration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rec := &recorder{rng: rand.New(rand.NewPCG(sampleSeed, 1)), ts: sampleStart, closed: map[string]int{}, n: 100, stop: cancel}
	if err := src.Run(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if !rec.done() {
		t.Fatalf("no halt and reopening within a minute (%d lines)", len(rec.lines))
	}
	if err := os.WriteFile(filepath.Join("testdata", "sample_book.ndjson"), append(bytes.Join(rec.lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
