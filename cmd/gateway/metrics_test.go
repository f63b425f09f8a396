package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/tickgate/tickgate/internal/poll"
)

// metricValue returns a counter's or gauge's value, or a histogram's
// sample count, for the series name{labels...} (label name, value pairs),
// summed over the labels not named: tickgate_connections is the open
// connections of every transport, ws and sse.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	sum, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += float64(m.Histogram.GetSampleCount())
			case m.Untyped != nil:
				sum += m.Untyped.GetValue()
			}
		}
	}
	return sum, found
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == pairs[i] && lp.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	c := connect(t, tg, "")
	c.Send(`{"op":"subscribe","id":1,"symbols":["AAPL","MSFT"]}`)
	for range 20 {
		c.Next()
	}
	positive := []string{
		"tickgate_feed_ticks_total", "tickgate_messages_sent_total", "tickgate_frames_sent_total",
		"tickgate_bytes_sent_total", "tickgate_delivery_latency_seconds", "tickgate_fanout_enqueued_total",
	}
	// Counters move after the frame is written, so maybe just after the client read it.
	poll.Until(t, 5*time.Second, func() error {
		for _, name := range positive {
			if v, ok := metricValue(t, tg.gw.reg, name); !ok || v <= 0 {
				return fmt.Errorf("%s = %g (present %v), want > 0", name, v, ok)
			}
		}
		return nil
	})
	exact := map[string]float64{"tickgate_connections": 1, "tickgate_subscriptions": 2, "tickgate_ready": 1}
	for name, want := range exact {
		if v, ok := metricValue(t, tg.gw.reg, name); !ok || v != want {
			t.Errorf("%s = %g (present %v), want %g", name, v, ok, want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := metricValue(t, tg.gw.reg, name); !ok {
			t.Errorf("%s missing", name)
		}
	}
	problems, err := testutil.GatherAndLint(tg.gw.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	_, body := get(tg.url + "/metrics")
	for _, name := range append(positive, `tickgate_connections{transport="ws"} 1`, `tickgate_connections{transport="sse"} 0`, "tickgate_subscriptions 2", "go_goroutines", "process_resident_memory_bytes") {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	c.Conn.Close(websocket.StatusNormalClosure, "")
	poll.Until(t, 5*time.Second, func() error {
		conns, _ := metricValue(t, tg.gw.reg, "tickgate_connections")
		subs, _ := metricValue(t, tg.gw.reg, "tickgate_subscriptions")
		if conns != 0 || subs != 0 {
			return fmt.Errorf("after close: connections %g, subscriptions %g, want 0", conns, subs)
		}
		return nil
	})
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_disconnects_total", "reason", "client_closed"); v != 1 {
		t.Errorf("tickgate_disconnects_total{reason=client_closed} = %g, want 1", v)
	}
}
