package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// requiredKeys are the JSON fields every result must carry.
var requiredKeys = []string{
	"workload", "target", "connections", "clients_requested", "feed_rate", "duration_s",
	"deliveries_per_sec", "frames_per_sec", "bytes_per_sec",
	"latency_p50_ms", "latency_p99_ms", "latency_p999_ms", "latency_max_ms",
	"gaps", "repeats", "slow_dropped", "disconnects", "connect_errors", "connect_p99_ms",
	"server_rss_bytes", "server_rss_per_conn_bytes", "server_cpu_seconds", "server_latency_p99_ms",
	"harness_cpu_seconds", "go_version", "nproc", "timestamp",
	"gateway_cpu_us_per_frame", "gateway_cpu_us_per_delivery", "gateway_cpu_per_sec", "stream",
}

// TestSmoke builds the servers and runs the harness in-process against
// each, spawned the way -spawn does, with a handful of clients: every
// target, tickgate on the harness's NATS feed and on bars.1s, and a short
// churn.
// Centrifugo runs only where its binary is installed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and spawns servers")
	}
	dir := t.TempDir()
	gateway := buildBinary(t, dir, "gateway", "./cmd/gateway")
	baseline := buildBinary(t, dir, "baseline", "./bench/baseline")
	floor := buildBinary(t, dir, "floor", "./bench/floor")
	t.Run("tickgate", func(t *testing.T) { smoke(t, gateway, "tickgate", 50) })
	t.Run("baseline", func(t *testing.T) { smoke(t, baseline, "baseline", 20) })
	t.Run("floor", func(t *testing.T) { smoke(t, floor, "floor", 20) })
	t.Run("tickgate-nats", func(t *testing.T) { smoke(t, gateway, "tickgate", 20, "-feed", "nats") })
	t.Run("tickgate-bars", func(t *testing.T) { smoke(t, gateway, "tickgate", 20, "-stream", "bars.1s", "-pick", "fixed") })
	t.Run("tickgate-book", func(t *testing.T) {
		smoke(t, gateway, "tickgate", 20, "-stream", "book", "-pick", "fixed", "-max-rate", "4")
	})
	t.Run("tickgate-book-nats", func(t *testing.T) {
		smoke(t, gateway, "tickgate", 20, "-stream", "book", "-pick", "fixed", "-feed", "nats")
	})
	t.Run("centrifugo", func(t *testing.T) {
		bin, err := lookCentrifugo("")
		if err != nil {
			t.Skipf("centrifugo not installed, target not exercised: %v", err)
		}
		smoke(t, bin, "centrifugo", 20, "-centrifugo", bin)
	})
	t.Run("churn", func(t *testing.T) { churnSmoke(t, gateway) })
}

// churnSmoke runs a second of churn beside 10 steady readers.
func churnSmoke(t *testing.T, gateway string) {
	var res ChurnResult
	stdout := runJSON(t, time.Minute, &res, "-workload", "churn", "-spawn", "-gateway-bin", gateway, "-clients", "10",
		"-churn-rate", "20", "-duration", "1s", "-settle", "0s", "-warmup", "500ms")
	if res.Opened == 0 || res.SteadyTicks == 0 || res.SteadyGaps != 0 || res.Server.FDs[0] == 0 {
		t.Errorf("churn: %+v\n%s", res, stdout)
	}
}

// runJSON runs the harness with args and -out, within timeout, decodes
// the result it wrote into v and returns what it printed.
func runJSON(t *testing.T, timeout time.Duration, v any, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "result.json")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, append(args, "-out", out), &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
	return stdout.String()
}

func buildBinary(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ".." // the module root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

func smoke(t *testing.T, bin, target string, clients int, extra ...string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "result.json")
	args := append([]string{
		"-workload", "custom", "-spawn", "-target", target, "-gateway-bin", bin,
		"-clients", strconv.Itoa(clients), "-symbols", "3", "-rate", "500",
		"-duration", "3s", "-warmup", "1s", "-out", out,
	}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	for _, k := range requiredKeys {
		if _, ok := res[k]; !ok {
			t.Errorf("result lacks %q", k)
		}
	}
	if got := res["connections"]; got != float64(clients) {
		t.Errorf("connections = %v, want %d", got, clients)
	}
	if got, _ := res["deliveries_per_sec"].(float64); got <= 0 {
		t.Errorf("deliveries_per_sec = %v, want > 0", got)
	}
	if got := res["gaps"]; got != float64(0) {
		t.Errorf("gaps = %v, want 0", got)
	}
	if got, _ := res["gateway_cpu_us_per_frame"].(float64); got <= 0 {
		t.Errorf("gateway_cpu_us_per_frame = %v, want > 0", got)
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}

// TestUniverseSmoke runs the universe workload on two small markets with
// two handfuls of clients under a memory budget: every row has its
// window; the first of each size its startup, its RSS and what it keeps
// (within the budget), and the time to list 1,000 more symbols; the
// bigger market a matched row, the first client count on more symbols
// each (by ?symbols=) for the first size's fan-out; every row its CPU
// per delivery and per frame against the first size's.
func TestUniverseSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and spawns servers")
	}
	gateway := buildBinary(t, t.TempDir(), "gateway", "./cmd/gateway")
	var res UniverseResult
	stdout := runJSON(t, 3*time.Minute, &res, "-workload", "universe", "-spawn", "-feed", "nats", "-gateway-bin", gateway, "-universe-clients", "5,10",
		"-universe-sizes", "100,2000", "-rate", "500", "-duration", "1s", "-warmup", "500ms", "-fill", "500ms", "-memory-budget", "2MiB")
	if len(res.Rows) != 5 || res.Rows[0].Symbols != 100 || res.Rows[3].Symbols != 2000 || res.Rows[1].Clients != 10 {
		t.Fatalf("rows %+v, want 100 and 2000 symbols with 5 and 10 clients, and 2000 matched", res.Rows)
	}
	for i, r := range res.Rows {
		if r.TicksPerSec <= 0 || r.DeliveriesPS <= 0 || r.CPUPerTickUS <= 0 || r.Gaps != 0 || r.DelivVsFirst <= 0 || r.FrameVsFirst <= 0 {
			t.Errorf("row %+v: a figure missing, or gaps\n%s", r, stdout)
		}
		full := i%2 == 0 && !r.Matched
		if got := r.StartupS > 0 && r.RSSFullMB > 0 && r.AddMS > 0 && r.KeptMB > 0; got != full {
			t.Errorf("row %+v: startup, RSS, kept and listing figures %v, want %v\n%s", r, got, full, stdout)
		}
		if full && (r.BudgetMB != 2.097152 || r.KeptMB > r.BudgetMB) {
			t.Errorf("row %+v: kept %v MB of a %v MB budget, want within 2MiB", r, r.KeptMB, r.BudgetMB)
		}
		if r.Matched != (i == 4) || (r.PerClient == 10) == r.Matched {
			t.Errorf("row %d %+v: matched %v on %d symbols each, want only the last matched, on more than 10", i, r, r.Matched, r.PerClient)
		}
	}
	m, first := res.Rows[4], res.Rows[0]
	if m.Clients != 5 || m.Symbols != 2000 || math.Abs(m.ExpectedFan-first.ExpectedFan) > fanoutTolerance*first.ExpectedFan {
		t.Errorf("matched row %+v: want 5 clients on 2000 symbols, fan-out within 2%% of %v", m, first.ExpectedFan)
	}
	if first.DelivVsFirst != 1 || m.DelivVsFirst != m.CPUPerDelivUS/first.CPUPerDelivUS {
		t.Errorf("×first per delivery %v and %v, want 1 and the matched row's over the first's", first.DelivVsFirst, m.DelivVsFirst)
	}
}
