package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// prometheusServer is a prometheus child process scraping for a test.
type prometheusServer struct {
	api string // http://127.0.0.1:port/api/v1
}

// startPrometheus runs the prometheus binary, with native histograms on,
// scraping target (host:port) every second as job "tickgate". It is stopped
// when the test ends, and its log printed if the test failed. Without the
// binary the test is skipped, or fails when $CI is set (CI installs it).
func startPrometheus(t *testing.T, target string) *prometheusServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prometheus binary not found in $PATH: %v", err)
		}
		t.Skip("prometheus binary not in $PATH")
	}
	dir := t.TempDir()
	config := filepath.Join(dir, "prometheus.yml")
	yml := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"+
		"scrape_configs:\n  - job_name: tickgate\n    metrics_path: /metrics\n"+
		"    static_configs:\n      - targets: [%q]\n", target)
	if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", natstest.FreePort(t))
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--enable-feature=native-histograms",
	)
	var out logtest.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() {
		stopProcess(t, cmd)
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	return &prometheusServer{api: "http://" + addr + "/api/v1"}
}

// stopProcess sends cmd SIGTERM and waits for it to exit, killing it if it
// takes more than 10s.
func stopProcess(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM %s: %v", cmd.Path, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%s after SIGTERM: %v", cmd.Path, err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("%s still running 10s after SIGTERM; killed", cmd.Path)
		cmd.Process.Kill()
		<-done
	}
}

// query evaluates the instant PromQL query q and returns the value of its
// only series. It fails if the query fails, or returns no series or more
// than one, or a value that is not a float.
func (p *prometheusServer) query(q string) (float64, error) {
	code, body := get(p.api + "/query?" + url.Values{"query": {q}}.Encode())
	if code == 0 {
		return 0, fmt.Errorf("query %s: %s", q, body)
	}
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"` // [unix time, "number"]
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return 0, fmt.Errorf("query %s: HTTP %d: %w: %.200s", q, code, err, body)
	}
	if resp.Status != "success" {
		return 0, fmt.Errorf("query %s: status %q: %s", q, resp.Status, resp.Error)
	}
	if resp.Data.ResultType != "vector" || len(resp.Data.Result) != 1 {
		return 0, fmt.Errorf("query %s: %s of %d series, want a vector of one: %.300s", q, resp.Data.ResultType, len(resp.Data.Result), body)
	}
	v := resp.Data.Result[0].Value
	if len(v) != 2 {
		return 0, fmt.Errorf("query %s: value %v, want [time, number]", q, v)
	}
	s, ok := v[1].(string)
	if !ok {
		return 0, fmt.Errorf("query %s: value %v is not a string number", q, v[1])
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("query %s: %w", q, err)
	}
	return f, nil
}

// TestRealPrometheusScrapesGateway has a real Prometheus scrape a gateway
// whose client is reading ticks, and checks the delivery latency histogram
// arrives in a form PromQL can take quantiles of. The first sample takes
// about 6s: Prometheus 2.42 applies new scrape targets on a fixed 5s tick.
func TestRealPrometheusScrapesGateway(t *testing.T) {
	if testing.Short() {
		t.Skip("runs prometheus for several seconds")
	}
	t.Parallel()
	tg := startGateway(t, map[string]string{"feed.sim.rate": "5000"})
	prom := startPrometheus(t, strings.TrimPrefix(tg.url, "http://"))
	c := connect(t, tg, "?symbols=AAPL,MSFT,NVDA")
	subscribed(c, "AAPL,MSFT,NVDA")
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := c.Read(); err != nil {
				done <- err
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		if err := <-done; err != nil {
			t.Errorf("client: %v", err)
		}
	})

	start := time.Now()
	// waitValue polls q until ok accepts its value.
	waitValue := func(q, want string, ok func(float64) bool) {
		t.Helper()
		poll.Every(t, 60*time.Second, 200*time.Millisecond, func() error {
			v, err := prom.query(q)
			if err != nil {
				return err
			}
			if !ok(v) {
				return fmt.Errorf("%s = %g, want %s", q, v, want)
			}
			t.Logf("%s = %g after %s", q, v, time.Since(start).Round(time.Millisecond))
			return nil
		})
	}
	waitValue(`up{job="tickgate"}`, "1", func(v float64) bool { return v == 1 })

	// Prometheus 2.42 with native histograms on ingests a histogram that has
	// native buckets in its native form only: the classic _count and _bucket
	// series do not exist there. A Prometheus that does not scrape native
	// histograms stores the classic form instead; either will do.
	forms := []struct{ name, count, p99 string }{
		{"native",
			`histogram_count(tickgate_delivery_latency_seconds{job="tickgate"})`,
			`histogram_quantile(0.99, rate(tickgate_delivery_latency_seconds{job="tickgate"}[30s]))`},
		{"classic",
			`tickgate_delivery_latency_seconds_count{job="tickgate"}`,
			`histogram_quantile(0.99, sum by (le) (rate(tickgate_delivery_latency_seconds_bucket{job="tickgate"}[30s])))`},
	}
	form := -1
	poll.Every(t, 60*time.Second, 200*time.Millisecond, func() error {
		var errs []error
		for i, f := range forms {
			v, err := prom.query(f.count)
			if err == nil && v > 0 {
				form = i
				t.Logf("%s form: %s = %g after %s", f.name, f.count, v, time.Since(start).Round(time.Millisecond))
				return nil
			}
			errs = append(errs, fmt.Errorf("%s form: %g, %v", f.name, v, err))
		}
		return errors.Join(errs...)
	})
	waitValue(forms[form].p99, "finite and > 0", func(v float64) bool {
		return v > 0 && !math.IsInf(v, 0) && !math.IsNaN(v)
	})
}
