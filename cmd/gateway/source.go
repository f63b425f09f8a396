package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/feed/replay"
	"github.com/tickgate/tickgate/feed/sim"
)

// newSource builds the gateway's source named kind from the feed config
// (and the simulator's book depth, book.depth), numbering seqs (sim,
// replay) in a fresh epoch, the simulator's after its backfill. Errors name
// the config key at fault. Each adapter tags its own log lines.
func newSource(c *Config, kind string, reg prometheus.Registerer, log *slog.Logger) (feed.Source, error) {
	return newRunSource(c, kind, seqRun{Backfill: c.Feed.Sim.Backfill}, reg, log)
}

// seqRun is how a source that assigns seqs numbers them: in Epoch ("" for
// a fresh one), the simulator's Resume symbols carrying their tick, book
// and status seqs on from their last messages, or its first seqs a
// Backfill of synthetic history (only the gateway's own simulator has
// one). A nats source assigns none and ignores it.
type seqRun struct {
	Epoch    string
	Resume   feednats.Last
	Backfill time.Duration
}

// newRunSource is newSource numbering seqs as run says.
func newRunSource(c *Config, kind string, run seqRun, reg prometheus.Registerer, log *slog.Logger) (feed.Source, error) {
	cfg := &c.Feed
	switch kind {
	case "sim":
		src, err := sim.New(sim.Config{
			Rate: cfg.Sim.Rate, Seed: cfg.Sim.Seed, Skew: cfg.Sim.Skew, Symbols: cfg.Sim.Symbols,
			Book: cfg.Sim.Book, Depth: c.Book.Depth, Churn: cfg.Sim.BookChurn,
			HaltsPerHour: cfg.Sim.HaltsPerHour, HaltDuration: cfg.Sim.HaltDuration,
			Epoch: run.Epoch, Resume: run.Resume.Ticks, ResumeBooks: run.Resume.Books, ResumeStatus: run.Resume.Status,
			Backfill: run.Backfill,
		})
		if err != nil {
			return nil, fmt.Errorf("config: feed.sim: %w", err)
		}
		return src, nil
	case "nats":
		src, err := feednats.New(feednats.Config{
			URLs:          cfg.NATS.URLs,
			Prefix:        cfg.NATS.Prefix,
			Symbols:       natsSymbols(cfg),
			ReconnectWait: cfg.NATS.ReconnectWait,
			Stream:        cfg.NATS.Stream,
			StallAfter:    cfg.NATS.StallAfter,
		}, reg, log)
		if err != nil {
			return nil, fmt.Errorf("config: feed.nats: %w", err)
		}
		return src, nil
	case "replay":
		src, err := replay.New(replay.Config{
			Path: cfg.Replay.Path, Format: cfg.Replay.Format, Speed: cfg.Replay.Speed,
			Fast: cfg.Replay.Fast, Loop: cfg.Replay.Loop, Timestamps: cfg.Replay.Timestamps,
			Epoch: run.Epoch,
		}, reg, log)
		if err != nil {
			return nil, fmt.Errorf("config: feed.replay: %w", err)
		}
		return src, nil
	}
	return nil, fmt.Errorf("config: feed.source: unknown source %q", kind)
}

// natsSymbols is feed.nats.symbols, or else the simulator's list, so a
// fleet and the "gateway publish" feeding it agree without extra config.
func natsSymbols(cfg *FeedConfig) []string {
	switch {
	case len(cfg.NATS.Symbols) > 0:
		return cfg.NATS.Symbols
	case len(cfg.Sim.Symbols) > 0:
		return cfg.Sim.Symbols
	default:
		return sim.DefaultSymbols
	}
}
