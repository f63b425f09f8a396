package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// rulesFile is deploy/prometheus/rules.yml, from this package's directory.
const rulesFile = "../../deploy/prometheus/rules.yml"

// alertExpr returns the expr of the alert named name in rules.yml.
func alertExpr(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == name {
				return r.Expr
			}
		}
	}
	t.Fatalf("%s has no alert %s", rulesFile, name)
	return ""
}

// series evaluates the instant query q and returns how many series it
// gave.
func (p *prometheusServer) series(q string) (int, error) {
	code, body := get(p.api + "/query?" + url.Values{"query": {q}}.Encode())
	var resp struct {
		Status string
		Error  string
		Data   struct{ Result []json.RawMessage }
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil || resp.Status != "success" {
		return 0, fmt.Errorf("query %s: HTTP %d %s: %v %.200s", q, code, resp.Error, err, body)
	}
	return len(resp.Data.Result), nil
}

// TestRealPrometheusFeedStalledAlert has a real Prometheus scrape a
// gateway fed over NATS by a publisher that restarts its seqs from 1
// without a new epoch, so that every tick still reaches the shards
// (tickgate_feed_ticks_total rises) and none reaches the subscribed
// client: TickgateFeedStalled's expression, from rules.yml with its 2m
// windows cut to 10s so the test takes seconds, is empty while the client
// gets ticks and names the instance once it gets none. Its timing (the 2m
// window, for: 1m) is promtool's to check (deploy/prometheus/rules_test.yml).
func TestRealPrometheusFeedStalledAlert(t *testing.T) {
	if testing.Short() {
		t.Skip("runs prometheus for several seconds")
	}
	t.Parallel()
	expr := alertExpr(t, "TickgateFeedStalled")
	if !strings.Contains(expr, "[2m]") {
		t.Fatalf("TickgateFeedStalled expr %q has no [2m] window to shorten", expr)
	}
	expr = strings.ReplaceAll(expr, "[2m]", "[10s]")

	ns := natstest.Run(t, natstest.Options(-1))
	cfg := natsGateway(ns.ClientURL())
	cfg["feed.nats.stall_after"] = "0s" // this publisher sends no heartbeats
	tg := startGateway(t, cfg)
	prom := startPrometheus(t, strings.TrimPrefix(tg.url, "http://"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub, err := feednats.Connect(ctx, feednats.PublisherConfig{URLs: []string{ns.ClientURL()}, ReconnectWait: 20 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// The publisher counts up from a high seq, then, restarted, from 1 in
	// the same (default) epoch: every tick of the second run is stale.
	var seq atomic.Uint64
	seq.Store(1_000_000)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for ctx.Err() == nil {
			pub.Publish(feed.Tick{Symbol: "AAPL", Seq: seq.Add(1), Price: 100, Size: 1, Bid: 99.99, Ask: 100.01, TS: time.Now().UnixNano()})
			time.Sleep(5 * time.Millisecond)
		}
	}()
	defer func() { cancel(); <-published }()
	tg.waitReady(t)

	c := connect(t, tg, "?symbols=AAPL")
	subscribed(c, "AAPL")
	var got atomic.Int64
	go func() {
		for {
			if _, err := c.Read(); err != nil {
				return
			}
			got.Add(1)
		}
	}()

	waitSeries := func(q string, want int, why string) {
		t.Helper()
		poll.Every(t, 60*time.Second, 250*time.Millisecond, func() error {
			n, err := prom.series(q)
			if err != nil {
				return err
			}
			if n != want {
				return fmt.Errorf("%s: %d series, want %d (%s)", q, n, want, why)
			}
			return nil
		})
	}
	// A window in which the client held its subscription throughout and
	// got ticks: the alert's other half holds, and it must stay quiet.
	waitSeries(`rate(tickgate_messages_sent_total[10s]) > 0 and on (instance) min_over_time(tickgate_subscriptions[10s]) > 0`, 1, "the client gets ticks")
	if n, err := prom.series(expr); err != nil || n != 0 {
		t.Fatalf("alert expression while the client gets ticks: %d series, %v; want none", n, err)
	}

	seq.Store(0) // the restart
	waitSeries(expr, 1, "the client gets nothing")
	// Starved indeed: once the alert fires, nothing more reaches the client
	// (what was in flight at the restart, a backlog on a loaded machine,
	// arrived long before the alert's window passed).
	starved := got.Load()
	poll.Holds(t, 2*time.Second, 100*time.Millisecond, func() error {
		if n := got.Load() - starved; n > 0 {
			return fmt.Errorf("the client got %d messages while the alert fired: the scenario is not a starved client", n)
		}
		return nil
	})
	// The feed was ticking all along: an alert on it would have stayed silent.
	if n, err := prom.series(`rate(tickgate_feed_ticks_total[10s]) > 0`); err != nil || n != 1 {
		t.Errorf("tickgate_feed_ticks_total not rising while clients starve: %d series, %v", n, err)
	}
	if n, err := prom.series(`rate(tickgate_feed_dropped_ticks_total{reason="stale_seq"}[10s]) > 0`); err != nil || n != 1 {
		t.Errorf("the restarted run's ticks are not counted as stale_seq drops: %d series, %v", n, err)
	}
}
