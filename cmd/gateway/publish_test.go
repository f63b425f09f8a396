package main

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/runtest"
)

// startPublish runs "gateway publish" configured by overrides, its
// /metrics on a free port, and returns that port's /metrics URL and stop.
func startPublish(t *testing.T, overrides map[string]string) (metricsURL string, stop func()) {
	t.Helper()
	kv := map[string]string{"publish.metrics_listen": `"127.0.0.1:0"`}
	for k, v := range overrides {
		kv[k] = v
	}
	cfg := testConfig(t, kv)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	addr := make(chan string, 1)
	task := runtest.Start(t, "runPublish", func(ctx context.Context) error {
		return runPublishing(ctx, cfg, log, func(a string) { addr <- a })
	})
	select {
	case a := <-addr:
		return "http://" + a + "/metrics", task.Stop
	case <-time.After(10 * time.Second):
		t.Fatal("publisher metrics not listening within 10s")
	}
	return "", nil
}

// scrape returns the value of the unlabelled series name at url, and the
// page.
func scrape(t *testing.T, url, name string) (float64, string) {
	t.Helper()
	code, body := get(url)
	if code != 200 {
		t.Fatalf("GET %s = %d %s", url, code, body)
	}
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return -1, body
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v, body
}

// TestPublishMetrics checks that gateway publish serves its counters and
// epoch, and that ticks it drops while NATS is down show there.
func TestPublishMetrics(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	ns := natstest.Run(t, natstest.Options(port))
	url, _ := startPublish(t, natsGateway(ns.ClientURL()))
	poll.Until(t, 10*time.Second, func() error {
		if v, _ := scrape(t, url, "tickgate_publish_published_total"); v < 100 {
			return fmt.Errorf("published %v, want >= 100", v)
		}
		return nil
	})
	if _, page := scrape(t, url, "x"); !regexp.MustCompile(`(?m)^tickgate_publish_epoch_info\{epoch="[0-9a-v]{12}"\} 1$`).MatchString(page) {
		t.Fatalf("no epoch_info series with a fresh epoch in\n%s", page)
	}
	natstest.Stop(ns)
	poll.Until(t, 10*time.Second, func() error {
		if v, _ := scrape(t, url, "tickgate_publish_dropped_total"); v < 100 {
			return fmt.Errorf("dropped %v while NATS is down, want >= 100", v)
		}
		return nil
	})
}

// lastOnNATS subscribes to ticks.sym at url and returns a function giving
// the next tick received.
func lastOnNATS(t *testing.T, url, sym string) func() feed.Tick {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync("ticks." + sym)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() feed.Tick {
		t.Helper()
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tk, err := feed.DecodeJSON(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		return tk
	}
}

// TestPublishCarriesSeqsOn restarts gateway publish on a JetStream stream:
// a symbol the stream holds a tick of goes on at the next seq in the same
// epoch, so gateways see no reset; a new symbol starts at 1 in the new
// run's epoch.
func TestPublishCarriesSeqsOn(t *testing.T) {
	t.Parallel()
	url, cfg, st := publishedOnce(t, "ticks.AAPL")
	data := lastData(t, st, "ticks.AAPL")
	last, err := feed.DecodeJSON(data)
	if err != nil || !feed.ValidEpoch(last.Epoch) {
		t.Fatalf("last stored tick %s: %v, want one with an epoch", data, err)
	}

	aapl, newcomer := lastOnNATS(t, url, "AAPL"), lastOnNATS(t, url, "ZZZ")
	cfg["feed.sim.symbols"] = `["AAPL", "ZZZ"]`
	startPublish(t, cfg)
	if got := aapl(); got.Seq != last.Seq+1 || got.Epoch != last.Epoch {
		t.Fatalf("first AAPL tick after the restart: seq %d epoch %q, want %d in %q", got.Seq, got.Epoch, last.Seq+1, last.Epoch)
	}
	if got := newcomer(); got.Seq != 1 || got.Epoch == last.Epoch || !feed.ValidEpoch(got.Epoch) {
		t.Fatalf("first ZZZ tick: seq %d epoch %q, want 1 in a new epoch", got.Seq, got.Epoch)
	}
}

// publishedOnce runs gateway publish, AAPL on a JetStream stream, until
// the stream holds a message on each of subjects, and stops it. It returns
// the NATS server's URL, the config to publish again with, and the stream.
func publishedOnce(t *testing.T, subjects ...string) (url string, cfg map[string]string, st jetstream.Stream) {
	t.Helper()
	url = natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir())).ClientURL()
	cfg = jsGateway(url)
	cfg["feed.sim.symbols"] = `["AAPL"]`
	_, stop := startPublish(t, cfg)
	st = streamOf(t, url, "TICKS")
	for _, s := range subjects {
		waitSubject(t, st, s)
	}
	stop()
	return url, cfg, st
}

// lastData is the data of the last message st holds on subject.
func lastData(t *testing.T, st jetstream.Stream, subject string) []byte {
	t.Helper()
	m, err := st.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return m.Data
}

// waitSubject waits until st holds a message on subject.
func waitSubject(t *testing.T, st jetstream.Stream, subject string) {
	t.Helper()
	poll.Until(t, 10*time.Second, func() error {
		_, err := st.GetLastMsgForSubject(context.Background(), subject)
		return err
	})
}

// TestPublishNewEpochPerRun restarts gateway publish on core NATS with the
// same seed: the seqs start again, under a new epoch.
func TestPublishNewEpochPerRun(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.Options(-1))
	cfg := natsGateway(ns.ClientURL())
	cfg["feed.sim.symbols"] = `["AAPL"]`
	next := lastOnNATS(t, ns.ClientURL(), "AAPL")
	_, stop := startPublish(t, cfg)
	first := next()
	stop()
	startPublish(t, cfg)
	var again feed.Tick
	for again = next(); again.Epoch == first.Epoch; again = next() {
	} // ticks of the first run still in flight
	if again.Seq != 1 || !feed.ValidEpoch(again.Epoch) {
		t.Fatalf("first tick of the second run: seq %d epoch %q, want seq 1 in a new epoch (the first was %q)", again.Seq, again.Epoch, first.Epoch)
	}
}

// TestPublishSecondPublisherNewEpoch starts a second gateway publish on the
// stream while the first runs: it must not carry the first's seqs on
// (both would number one epoch), but start at 1 in an epoch of its own.
func TestPublishSecondPublisherNewEpoch(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	cfg := jsGateway(ns.ClientURL())
	cfg["feed.sim.symbols"] = `["AAPL"]`
	next := lastOnNATS(t, ns.ClientURL(), "AAPL")
	startPublish(t, cfg)
	first := next()
	startPublish(t, cfg)
	deadline := time.Now().Add(5 * time.Second)
	for tk := next(); ; tk = next() {
		if tk.Epoch != first.Epoch {
			if tk.Seq != 1 {
				t.Fatalf("second publisher's first tick: seq %d epoch %q, want seq 1", tk.Seq, tk.Epoch)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no tick of a second epoch within 5s: the second publisher carried the first's epoch on")
		}
	}
}

// TestPublishLogsNameOneSubsystem: every line gateway publish logs, its
// own and its NATS connection's (connected, created stream), names one
// subsystem once.
func TestPublishLogsNameOneSubsystem(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	cfg := testConfig(t, map[string]string{
		"publish.metrics_listen": `""`, "feed.nats.urls": yamlList(ns.ClientURL()), "feed.nats.stream": "TICKS",
	})
	var out logtest.Buffer
	log := slog.New(slog.NewTextHandler(&out, nil))
	task := runtest.Start(t, "runPublish", func(ctx context.Context) error { return runPublishing(ctx, cfg, log, nil) })
	poll.Until(t, 10*time.Second, func() error {
		for _, want := range []string{`msg=connected`, `msg="created stream"`, `msg=publishing`} {
			if !strings.Contains(out.String(), want) {
				return fmt.Errorf("no %s line yet:\n%s", want, out.String())
			}
		}
		return nil
	})
	task.Stop()
	for line := range strings.Lines(out.String()) {
		if n := strings.Count(line, "subsystem="); n != 1 {
			t.Errorf("%d subsystem fields in %q", n, line)
		}
	}
}
