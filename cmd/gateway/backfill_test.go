package main

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestSimBackfillCharts: a fresh simulated gateway has a chart's worth of
// 1-minute bars at once, every one marked synthetic and following on from
// the one before (prev), up to the minute it started in; its ticks start
// synthetic and go on live in the same run, seqs contiguous.
func TestSimBackfillCharts(t *testing.T) {
	t.Parallel()
	// A slow feed, so the tick history still holds the whole past when the test reads it.
	tg := startGateway(t, map[string]string{"feed.sim.symbols": "[AAPL, MSFT]", "feed.sim.backfill": "30m", "feed.sim.rate": "4"})
	tg.waitReady(t)

	c := wstest.Dial(t, tg.ws)
	c.Send(`{"op":"subscribe","id":1,"stream":"bars.1m","symbols":["AAPL"],"history":120}`)
	var bars []wstest.Msg
	for len(bars) < 30 {
		m := c.Next()
		if m.Type != "bar" {
			continue
		}
		if !m.Synthetic {
			t.Fatalf("bar %s before the 30 synthetic ones; got %d", m.Raw, len(bars))
		}
		bars = append(bars, m)
	}
	// The past ends at the whole minute the gateway started in.
	end := bars[29].T + int64(time.Minute)
	if now := time.Now().UnixNano(); end > now || end < now-int64(2*time.Minute) {
		t.Fatalf("the past ends at %d, want the start's minute (now %d)", end, now)
	}
	for i, b := range bars {
		if b.T != end-int64(30-i)*int64(time.Minute) || b.Seq != uint64(b.T/int64(time.Minute)) {
			t.Fatalf("bar %d %s: want the minute %d, seq its bucket", i, b.Raw, end-int64(30-i)*int64(time.Minute))
		}
		if i > 0 && !strings.Contains(string(b.Raw), `"prev":`+strconv.FormatUint(bars[i-1].Seq, 10)) {
			t.Fatalf("bar %d %s does not follow on from %d", i, b.Raw, bars[i-1].Seq)
		}
		if b.N != 12 || b.V < 1200 || !(b.L <= b.O && b.O <= b.H && b.L <= b.C && b.C <= b.H) {
			t.Fatalf("bar %d %s: want 12 ticks and a sane OHLCV", i, b.Raw)
		}
	}

	ticks := wstest.Dial(t, tg.ws)
	ticks.Send(`{"op":"subscribe","id":1,"symbols":["MSFT"],"history":1000}`)
	var last uint64
	for {
		m := ticks.Next()
		if m.Type != "tick" {
			continue
		}
		if m.Seq != last+1 {
			t.Fatalf("tick %s after seq %d: the run starts with its past and goes on from it", m.Raw, last)
		}
		last = m.Seq
		if want := m.Seq <= 360; m.Synthetic != want { // 30 min, every 5 s
			t.Fatalf("tick %s: want synthetic %v", m.Raw, want)
		}
		if !m.Synthetic {
			break
		}
	}
}

// TestOnlyTheGatewayBackfills: the gateway's simulator starts with its
// past; the same feed config run by "gateway publish" (newRunSource with
// the publisher's seqRun) starts live at seq 1, so no synthetic tick goes
// into NATS.
func TestOnlyTheGatewayBackfills(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, map[string]string{"feed.sim.symbols": "[AAPL]", "feed.sim.backfill": "10m"})
	log := slog.New(slog.DiscardHandler)
	gw, err := newSource(cfg, "sim", prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := newRunSource(cfg, "sim", seqRun{Epoch: feed.NewEpoch()}, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	if first := firstTick(t, gw); !first.Synthetic || first.Seq != 1 {
		t.Errorf("the gateway's simulator began with %+v, want synthetic seq 1", first)
	}
	if first := firstTick(t, pub); first.Synthetic || first.Seq != 1 {
		t.Errorf("the publisher's simulator began with %+v, want live seq 1", first)
	}
}

// firstTick runs src until its first tick and returns it.
func firstTick(t *testing.T, src feed.Source) feed.Tick {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sink := &firstSink{got: make(chan feed.Tick, 1), cancel: cancel}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	select {
	case tk := <-sink.got:
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return tk
	case <-time.After(10 * time.Second):
		cancel()
		<-done
		t.Fatal("no tick within 10 s")
	}
	return feed.Tick{}
}

// firstSink keeps the first tick published and ends the run.
type firstSink struct {
	once   sync.Once
	got    chan feed.Tick
	cancel context.CancelFunc
}

func (s *firstSink) Publish(t feed.Tick) {
	s.once.Do(func() { s.got <- t; s.cancel() })
}
