package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	feednats "github.com/tickgate/tickgate/feed/nats"
)

// runPublish is "gateway publish": it runs publish.source (the simulator or
// a replay) into NATS, so that every gateway of a fleet reads one feed and
// per-symbol seqs are assigned once, here. With feed.nats.stream it first
// makes sure the stream exists. It sends a heartbeat every
// publish.heartbeat, and drops (and counts) the ticks it cannot send while
// NATS is unreachable. It returns when ctx is done or a non-looping replay
// ends.
func runPublish(ctx context.Context, cfg *Config, log *slog.Logger) error {
	src, err := newSource(&cfg.Feed, cfg.Publish.Source, prometheus.NewRegistry(), log)
	log = log.With("subsystem", "publish")
	if err != nil {
		return err
	}
	pub, err := feednats.Connect(ctx, feednats.PublisherConfig{
		URLs:           cfg.Feed.NATS.URLs,
		Prefix:         cfg.Feed.NATS.Prefix,
		ReconnectWait:  cfg.Feed.NATS.ReconnectWait,
		Stream:         cfg.Feed.NATS.Stream,
		StreamHistory:  cfg.Publish.StreamHistory,
		StreamReplicas: cfg.Publish.StreamReplicas,
	}, log)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting for NATS
		}
		return err
	}
	defer pub.Close()
	log.Info("publishing", "source", cfg.Publish.Source, "urls", cfg.Feed.NATS.URLs, "prefix", cfg.Feed.NATS.Prefix,
		"stream", cfg.Feed.NATS.Stream, "symbols", len(src.Symbols()))

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
			log.Info("publish stopped", "published", pub.Published(), "dropped", pub.Dropped(), "errors", pub.Errors())
			return err
		case <-beat:
			pub.Heartbeat()
		case <-stats.C:
			log.Info("publish progress", "published", pub.Published(), "dropped", pub.Dropped(), "errors", pub.Errors(), "connected", pub.Connected())
		}
	}
}
