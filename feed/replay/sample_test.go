package replay

import (
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

var update = flag.Bool("update", false, "rewrite testdata/sample.ndjson and testdata/sample.csv")

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

func (f *firstN) List(feed.Listing) {}

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
