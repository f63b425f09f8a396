package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

func TestPickSymbols(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{pickUniform, pickZipf, pickFixed} {
		picks := pickSymbols(mode, 200, 10, 100, 1)
		for _, p := range picks {
			seen := map[int]bool{}
			for _, j := range p {
				if j < 0 || j >= 100 || seen[j] {
					t.Fatalf("%s: bad pick %v", mode, p)
				}
				seen[j] = true
			}
			if len(p) != 10 {
				t.Fatalf("%s: %d symbols, want 10", mode, len(p))
			}
		}
	}
	if p := pickSymbols(pickZipf, 1, 500, 100, 1)[0]; len(p) != 100 {
		t.Errorf("k above the universe: %d symbols, want 100", len(p))
	}
	if p := pickSymbols(pickFixed, 1, 5, 100, 1)[0]; p[0] != 0 || p[4] != 4 {
		t.Errorf("fixed picks %v, want the first 5", p)
	}
}

func TestExpectedFanout(t *testing.T) {
	t.Parallel()
	// Every client on every symbol: each tick reaches all of them.
	if got := expectedFanout(pickSymbols(pickFixed, 30, 100, 100, 1), 100); math.Abs(got-30) > 1e-9 {
		t.Errorf("all subscribed: fan-out %v, want 30", got)
	}
	// One client on the hottest symbol only: P(0) = 1 / sum((1+k)^-1.1).
	var norm float64
	for k := range 100 {
		norm += math.Pow(float64(1+k), -1.1)
	}
	if got := expectedFanout([][]int{{0}}, 100); math.Abs(got-1/norm) > 1e-12 {
		t.Errorf("hottest only: fan-out %v, want %v", got, 1/norm)
	}
}

// TestMatchSymbols: 100 Zipf clients on 10 symbols of 100 reach a
// fan-out that needs more picks each on 10,000 symbols; the k found gives
// it within 2%, every smaller k falls short of it, and a fan-out past
// every client on every symbol is an error.
func TestMatchSymbols(t *testing.T) {
	t.Parallel()
	target := expectedFanout(pickSymbols(pickZipf, 100, 10, 100, 1), 100)
	k, fan, err := matchSymbols(target, pickZipf, 100, 10000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if k <= 10 || math.Abs(fan-target) > fanoutTolerance*target {
		t.Fatalf("k %d, fan-out %.2f, want k > 10 and within 2%% of %.2f", k, fan, target)
	}
	if got := expectedFanout(pickSymbols(pickZipf, 100, k, 10000, 1), 10000); math.Abs(got-fan) > 1e-9 {
		t.Errorf("fan-out of the picks at k %d is %v, matchSymbols said %v", k, got, fan)
	}
	for j := 1; j < k; j++ {
		if got := expectedFanout(pickSymbols(pickZipf, 100, j, 10000, 1), 10000); got >= target {
			t.Errorf("k %d already reaches %.2f (%.2f), yet %d was chosen", j, target, got, k)
		}
	}
	if _, _, err := matchSymbols(200, pickZipf, 100, 100, 1); err == nil || !strings.Contains(err.Error(), "within 2% of 200.00") {
		t.Errorf("unreachable fan-out: err %v", err)
	}
}

// TestPlanUniverse: each size runs with each client count, and each size
// but the first once more, matched, with the first client count.
func TestPlanUniverse(t *testing.T) {
	t.Parallel()
	args := []string{"-workload", "universe", "-spawn", "-feed", "nats", "-universe-sizes", "100,10000", "-universe-clients", "100,200"}
	o, err := parseOptions(args, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := planUniverse(o)
	if err != nil {
		t.Fatal(err)
	}
	k, _, _ := matchSymbols(expectedFanout(pickSymbols(pickZipf, 100, 10, 100, 1), 100), pickZipf, 100, 10000, 1)
	want := []universeRun{
		{symbols: 100, clients: 100, perClient: 10, full: true}, {symbols: 100, clients: 200, perClient: 10},
		{symbols: 10000, clients: 100, perClient: 10, full: true}, {symbols: 10000, clients: 200, perClient: 10},
		{symbols: 10000, clients: 100, perClient: k, matched: true},
	}
	if !slices.Equal(runs, want) {
		t.Errorf("runs %+v, want %+v", runs, want)
	}
	if o, err = parseOptions(append(args, "-universe-matched=false"), os.Stderr); err != nil {
		t.Fatal(err)
	}
	if runs, _ = planUniverse(o); !slices.Equal(runs, want[:4]) {
		t.Errorf("-universe-matched=false: runs %+v, want %+v", runs, want[:4])
	}
}

// TestCompareFirst: each row's CPU per delivery and per frame over the
// first size's unmatched row with as many clients.
func TestCompareFirst(t *testing.T) {
	t.Parallel()
	res := &UniverseResult{Rows: []UniverseRow{
		{Symbols: 100, Clients: 100, CPUPerDelivUS: 2, CPUPerFrameUS: 5},
		{Symbols: 100, Clients: 200, CPUPerDelivUS: 1, CPUPerFrameUS: 4},
		{Symbols: 9000, Clients: 100, CPUPerDelivUS: 4, CPUPerFrameUS: 6},
		{Symbols: 9000, Clients: 200, CPUPerDelivUS: 3, CPUPerFrameUS: 5},
		{Symbols: 9000, Clients: 100, Matched: true, CPUPerDelivUS: 2.2, CPUPerFrameUS: 5.5},
	}}
	res.compareFirst()
	want := [][2]float64{{1, 1}, {1, 1}, {2, 1.2}, {3, 1.25}, {1.1, 1.1}}
	for i, r := range res.Rows {
		if math.Abs(r.DelivVsFirst-want[i][0]) > 1e-9 || math.Abs(r.FrameVsFirst-want[i][1]) > 1e-9 {
			t.Errorf("row %d: ×first %v per delivery, %v per frame, want %v", i, r.DelivVsFirst, r.FrameVsFirst, want[i])
		}
	}
}

func hist(count uint64, cum ...uint64) *dto.Histogram {
	bounds := []float64{0.001, 0.01, 0.1, math.Inf(1)}
	h := &dto.Histogram{SampleCount: proto.Uint64(count)}
	for i, c := range cum {
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: proto.Float64(bounds[i]), CumulativeCount: proto.Uint64(c)})
	}
	return h
}

func TestBucketQuantile(t *testing.T) {
	t.Parallel()
	before := hist(10, 10, 10, 10, 10)
	after := hist(110, 60, 110, 110, 110) // +50 under 1 ms, +50 in (1, 10] ms
	if got := bucketQuantile(before, after, 0.5); math.Abs(got-0.001) > 1e-12 {
		t.Errorf("p50 = %v, want 0.001", got)
	}
	if got := bucketQuantile(before, after, 0.99); math.Abs(got-(0.001+0.009*49.0/50)) > 1e-12 {
		t.Errorf("p99 = %v", got)
	}
	if got := bucketQuantile(after, after, 0.99); !math.IsNaN(got) {
		t.Errorf("no new samples: %v, want NaN", got)
	}
	if got := bucketQuantile(before, hist(20, 10, 10, 10, 20), 0.5); got != 0.1 {
		t.Errorf("all in +Inf: %v, want the highest finite bound", got)
	}
}

func TestApplyWorkload(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"-workload", "idle", "-clients", "50"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if o.clients != 50 || o.symbols != 1 || o.pick != pickUniform || o.rate != 10 {
		t.Errorf("idle with -clients 50: %+v", o)
	}
	if _, err := parseOptions([]string{"-url", "ws://10.0.0.1:8080/ws"}, os.Stderr); err == nil {
		t.Error("a non-loopback -url was accepted")
	}
	if _, err := parseOptions([]string{"-find-max"}, os.Stderr); err == nil {
		t.Error("-find-max without -spawn was accepted")
	}
}

func TestCheckFileLimit(t *testing.T) {
	t.Parallel()
	err := checkFileLimit(&options{clients: 1 << 40})
	if err == nil || !strings.Contains(err.Error(), "needs 1099511627876 open files") {
		t.Errorf("err = %v", err)
	}
}

func TestCompareFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	os.WriteFile(a, []byte(`{"deliveries_per_sec": 100, "disconnects": {"4001": 2}, "target": "baseline"}`), 0o644)
	os.WriteFile(b, []byte(`{"deliveries_per_sec": 250, "disconnects": {"4001": 1}, "target": "tickgate"}`), 0o644)
	var out strings.Builder
	if err := compareFiles(&out, a, b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "2.500") || !strings.Contains(out.String(), "disconnects.4001") {
		t.Errorf("compare output:\n%s", out.String())
	}
}
