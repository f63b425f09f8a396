package fanout

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/tickgate/tickgate/feed"
)

// metricNames are every series family the engine registers.
var metricNames = []string{
	"tickgate_feed_ticks_total",
	"tickgate_feed_dropped_ticks_total",
	"tickgate_fanout_enqueued_total",
	"tickgate_slow_consumers_total",
	"tickgate_shard_batch_ticks",
	"tickgate_subscriptions",
	"tickgate_shard_inbox_ticks",
	"tickgate_memory_budget_bytes",
	"tickgate_memory_kept_bytes",
	"tickgate_memory_evicted_messages_total",
	"tickgate_memory_evicted_bytes_total",
}

func checkCounter(tb testing.TB, c prometheus.Collector, want float64) {
	tb.Helper()
	if got := testutil.ToFloat64(c); got != want {
		tb.Fatalf("counter = %v, want %v", got, want)
	}
}

// checkGauge checks the value of the unlabelled gauge name in reg.
func checkGauge(tb testing.TB, reg prometheus.Gatherer, name string, want float64) {
	tb.Helper()
	mf := gather(tb, reg, name)
	if got := mf.GetMetric()[0].GetGauge().GetValue(); got != want {
		tb.Fatalf("%s = %v, want %v", name, got, want)
	}
}

// gather returns the family name from reg.
func gather(tb testing.TB, reg prometheus.Gatherer, name string) *dto.MetricFamily {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf
		}
	}
	tb.Fatalf("no metric %s", name)
	return nil
}

func checkDropped(tb testing.TB, reg prometheus.Gatherer, stale, overMax, outside int) {
	tb.Helper()
	exp := fmt.Sprintf(`
# HELP tickgate_feed_dropped_ticks_total Ticks from the feed that were not fanned out, by reason.
# TYPE tickgate_feed_dropped_ticks_total counter
tickgate_feed_dropped_ticks_total{reason="epoch_conflict"} 0
tickgate_feed_dropped_ticks_total{reason="invalid_epoch"} 0
tickgate_feed_dropped_ticks_total{reason="max_symbols"} %d
tickgate_feed_dropped_ticks_total{reason="outside_pattern"} %d
tickgate_feed_dropped_ticks_total{reason="stale_seq"} %d
`, overMax, outside, stale)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(exp), "tickgate_feed_dropped_ticks_total"); err != nil {
		tb.Fatal(err)
	}
}

func TestMetricsRegisteredAndLint(t *testing.T) {
	t.Parallel()
	_, reg := newEngine(t, Config{}, "AAPL")
	for _, name := range metricNames {
		want := 1
		switch name {
		case "tickgate_feed_dropped_ticks_total":
			want = 5 // every reason exists from the start, at zero
		case "tickgate_memory_kept_bytes":
			want = 5 // ticks, bars, delay_line, books, symbols
		case "tickgate_memory_evicted_messages_total", "tickgate_memory_evicted_bytes_total":
			want = 3 // ticks, bars, books
		}
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (err %v), want %d", name, n, err, want)
		}
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestMetricsMove(t *testing.T) {
	t.Parallel()
	e, reg := startEngine(t, Config{Shards: 1, MaxSymbols: 2}, "AAPL", "MSFT")
	a, b := newTestClient(e), newTestClient(e)
	mustSubscribe(t, e, a, "AAPL", "MSFT")
	mustSubscribe(t, e, b, "AAPL")
	checkGauge(t, reg, "tickgate_subscriptions", 3)
	for seq := uint64(1); seq <= 4; seq++ {
		e.Publish(testTick("AAPL", seq))
	}
	e.Publish(testTick("MSFT", 1))
	e.Publish(testTick("AAPL", 4)) // stale
	e.Publish(testTick("GOOG", 1)) // past MaxSymbols
	waitDelivered(t, e, 6)

	checkCounter(t, e.metrics.feedTicks, 6)
	checkCounter(t, e.metrics.enqueued, 4*2+1)
	checkCounter(t, e.metrics.slowConsumers, 0)
	checkDropped(t, reg, 1, 1, 0)
	if n := testutil.CollectAndCount(e.metrics.batchTicks); n != 1 {
		t.Fatalf("batch histogram: %d series, want 1", n)
	}
	if got := gather(t, reg, "tickgate_shard_batch_ticks").GetMetric()[0].GetHistogram().GetSampleCount(); got < 1 || got > 6 {
		t.Fatalf("batch histogram: %d batches for 6 ticks", got)
	}
	e.UnsubscribeAll(a.Client)
	checkGauge(t, reg, "tickgate_subscriptions", 1)
}

func TestNewRegistersOnItsRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, feed.Listed("AAPL"), reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, feed.Listed("AAPL"), reg); err == nil {
		t.Fatal("a second engine on the same registry registered its metrics twice")
	}
	if _, err := New(Config{}, feed.Listed("AAPL"), prometheus.NewRegistry()); err != nil {
		t.Fatalf("engine on a fresh registry: %v", err)
	}
}
