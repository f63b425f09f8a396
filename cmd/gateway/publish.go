package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	feednats "github.com/tickgate/tickgate/feed/nats"
)

// runPublish is "gateway publish": it runs publish.source (the simulator or
// a replay) into NATS, so that every gateway of a fleet reads one feed and
// per-symbol seqs are assigned once, here. It returns when ctx is done or a
// non-looping replay ends.
func runPublish(ctx context.Context, cfg *Config, log *slog.Logger) error {
	src, err := newSource(&cfg.Feed, cfg.Publish.Source, prometheus.NewRegistry(), log)
	log = log.With("subsystem", "publish")
	if err != nil {
		return err
	}
	nc, err := feednats.Dial(cfg.Feed.NATS.URLs, "tickgate-publish", cfg.Feed.NATS.ReconnectWait)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer nc.Close()
	pub := feednats.NewPublisher(nc, cfg.Feed.NATS.Prefix)
	log.Info("publishing", "source", cfg.Publish.Source, "urls", cfg.Feed.NATS.URLs, "prefix", cfg.Feed.NATS.Prefix, "symbols", len(src.Symbols()))

	stats := time.NewTicker(10 * time.Second)
	defer stats.Stop()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	for {
		select {
		case err := <-done:
			if ferr := pub.Flush(5 * time.Second); ferr != nil {
				log.Warn("publish: flush", "err", ferr)
			}
			log.Info("publish stopped", "published", pub.Published(), "errors", pub.Errors())
			return err
		case <-stats.C:
			log.Info("publish progress", "published", pub.Published(), "errors", pub.Errors(), "connected", nc.IsConnected())
		}
	}
}
