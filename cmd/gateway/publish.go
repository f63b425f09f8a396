package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/feed/sim"
)

// runPublish is "gateway publish": it runs publish.source (the simulator or
// a replay) into NATS, so that every gateway of a fleet reads one feed and
// per-symbol seqs are assigned once, here, in a new epoch per run. With
// feed.nats.stream it first makes sure the stream exists, publishes for
// acks, and carries each simulated symbol on from the stream's last tick,
// book and status message of it where there are some. It sends a heartbeat every publish.heartbeat,
// drops (and counts) the ticks it cannot send while NATS is unreachable,
// and serves /metrics on publish.metrics_listen. It returns when ctx is
// done or a non-looping replay ends.
func runPublish(ctx context.Context, cfg *Config, log *slog.Logger) error {
	return runPublishing(ctx, cfg, log, nil)
}

// runPublishing is runPublish; listening, if not nil, is told the
// metrics address once it listens (tests listen on port 0).
func runPublishing(ctx context.Context, cfg *Config, base *slog.Logger, listening func(addr string)) error {
	log := base.With("subsystem", "publish") // Connect names its own subsystem on base
	reg := prometheus.NewRegistry()
	stopMetrics, err := servePublishMetrics(cfg.Publish.MetricsListen, reg, listening)
	if err != nil {
		return err
	}
	defer stopMetrics()
	epoch := feed.NewEpoch()
	pub, err := feednats.Connect(ctx, feednats.PublisherConfig{
		URLs:           cfg.Feed.NATS.URLs,
		Prefix:         cfg.Feed.NATS.Prefix,
		ReconnectWait:  cfg.Feed.NATS.ReconnectWait,
		Stream:         cfg.Feed.NATS.Stream,
		StreamHistory:  cfg.Publish.StreamHistory,
		StreamReplicas: cfg.Publish.StreamReplicas,
		AckWindow:      cfg.Publish.AckWindow,
		Epoch:          epoch,
		Metrics:        reg,
	}, base)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for NATS
		}
		return err
	}
	defer pub.Close()
	run := seqRun{Epoch: epoch}
	if cfg.Publish.Source == "sim" && cfg.Feed.NATS.Stream != "" {
		if run.Resume, err = resumeFrom(ctx, pub, simSymbols(&cfg.Feed), log); err != nil {
			return err
		}
	}
	src, err := newRunSource(cfg, cfg.Publish.Source, run, reg, base)
	if err != nil {
		return err
	}
	log.Info("publishing", "source", cfg.Publish.Source, "urls", cfg.Feed.NATS.URLs, "prefix", cfg.Feed.NATS.Prefix,
		"stream", cfg.Feed.NATS.Stream, "symbols", len(src.Symbols()), "epoch", epoch, "resumed", len(run.Resume.Ticks))
	return publishLoop(ctx, cfg, src, pub, log)
}

// otherPublisherWait is how long gateway publish listens for another
// publisher before it carries seqs on from the stream: a fraction of the
// one second a restart may leave a symbol silent, and enough to hear a
// simulator at any but the lowest rates.
const otherPublisherWait = 250 * time.Millisecond

// resumeFrom returns the stream's last messages of each of symbols, for
// the simulator to carry on from, unless another publisher is running:
// then none, so that this run's messages are all of its new epoch and
// gateways see the conflict (tickgate_feed_dropped_ticks_total{reason="epoch_conflict"}).
func resumeFrom(ctx context.Context, pub *feednats.Publisher, symbols []string, log *slog.Logger) (feednats.Last, error) {
	other, err := pub.OtherPublisher(otherPublisherWait)
	if err != nil {
		return feednats.Last{}, err
	}
	if other {
		log.Error("another publisher is publishing on this prefix; not carrying seqs on from the stream, so gateways see two epochs and alarm. Stop one of them.")
		return feednats.Last{}, nil
	}
	return pub.LastMessages(ctx, symbols)
}

// simSymbols is the simulator's symbol list: feed.sim.symbols, or else
// sim.DefaultSymbols.
func simSymbols(cfg *FeedConfig) []string {
	if len(cfg.Sim.Symbols) > 0 {
		return cfg.Sim.Symbols
	}
	return sim.DefaultSymbols
}

// publishLoop runs src into pub with heartbeats and progress logs until
// src stops, then flushes.
func publishLoop(ctx context.Context, cfg *Config, src feed.Source, pub *feednats.Publisher, log *slog.Logger) error {
	stats := time.NewTicker(10 * time.Second)
	defer stats.Stop()
	var beat <-chan time.Time
	if cfg.Publish.Heartbeat > 0 {
		t := time.NewTicker(cfg.Publish.Heartbeat)
		defer t.Stop()
		beat = t.C
		pub.Heartbeat()
	}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	for {
		select {
		case err := <-done:
			if ferr := pub.Flush(5 * time.Second); ferr != nil {
				log.Warn("publish: flush", "err", ferr)
			}
			log.Info("publish stopped", "published", pub.Published(), "dropped", pub.Dropped(), "errors", pub.Errors(), "ack_failures", pub.AckFailures())
			return err
		case <-beat:
			pub.Heartbeat()
		case <-stats.C:
			log.Info("publish progress", "published", pub.Published(), "dropped", pub.Dropped(), "errors", pub.Errors(),
				"ack_failures", pub.AckFailures(), "connected", pub.Connected())
		}
	}
}

// servePublishMetrics serves reg's /metrics on addr until stop is called;
// addr "" serves nothing. It listens before returning, so that a busy
// port fails the start, and Prometheus sees the publisher even while it
// waits for NATS.
func servePublishMetrics(addr string, reg *prometheus.Registry, listening func(string)) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("publish.metrics_listen: %w", err)
	}
	if listening != nil {
		listening(ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln) // ErrServerClosed once stopped
	}()
	return func() {
		_ = srv.Close()
		<-served
	}, nil
}
