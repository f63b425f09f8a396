package main

import (
	"bytes"
	"context"
	"encoding/json"
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
}

// TestSmoke builds both servers and runs the harness in-process against
// each, spawned the way -spawn does, with a handful of clients.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and spawns servers")
	}
	dir := t.TempDir()
	gateway := buildBinary(t, dir, "gateway", "./cmd/gateway")
	baseline := buildBinary(t, dir, "baseline", "./bench/baseline")
	t.Run("tickgate", func(t *testing.T) { smoke(t, gateway, "tickgate", 50) })
	t.Run("baseline", func(t *testing.T) { smoke(t, baseline, "baseline", 20) })
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

func smoke(t *testing.T, bin, target string, clients int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "result.json")
	args := []string{
		"-workload", "custom", "-spawn", "-target", target, "-gateway-bin", bin,
		"-clients", strconv.Itoa(clients), "-symbols", "3", "-rate", "500",
		"-duration", "3s", "-warmup", "1s", "-out", out,
	}
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
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
}
