package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// File formats for Config.Format.
const (
	formatNDJSON = "ndjson"
	formatCSV    = "csv"
)

// Timestamp modes for Config.Timestamps.
const (
	// TimestampsEmission stamps each tick with the wall-clock time it is
	// emitted.
	TimestampsEmission = "emission"
	// TimestampsRecorded keeps each tick's recorded ts.
	TimestampsRecorded = "recorded"
)

// Config names the file to replay and how to pace it.
type Config struct {
	// Path is the file to replay. Required.
	Path string
	// Format is "ndjson" or "csv". "" picks by extension: ".csv" (any case)
	// is CSV, anything else NDJSON.
	Format string
	// Speed divides the recorded time between ticks: 0 or 1 plays at the
	// recorded pace, 10 ten times faster, 0.5 at half speed. It must not be
	// negative; Fast overrides it.
	Speed float64
	// Fast plays the file as fast as the sink takes ticks, ignoring the
	// recorded times.
	Fast bool
	// Loop plays the file again from the start each time it ends, until the
	// context is done. Without Loop, Run returns after the last tick.
	Loop bool
	// Timestamps is what TS an emitted tick carries: TimestampsEmission
	// (the default for "") or TimestampsRecorded. See Source.
	Timestamps string
	// Epoch names the numbering of the first Run; "" means a fresh
	// feed.NewEpoch(). Every tick of a Run carries it, whatever epoch the
	// file recorded: a replay assigns its ticks' seqs anew (as recorded,
	// raised past the earlier plays when looping), so it is their origin.
	Epoch string
}

// defaults returns cfg with its zero fields replaced by their defaults.
func (cfg Config) defaults() Config {
	if cfg.Format == "" {
		cfg.Format = formatNDJSON
		if strings.EqualFold(filepath.Ext(cfg.Path), ".csv") {
			cfg.Format = formatCSV
		}
	}
	if cfg.Speed == 0 {
		cfg.Speed = 1
	}
	if cfg.Timestamps == "" {
		cfg.Timestamps = TimestampsEmission
	}
	if cfg.Epoch == "" {
		cfg.Epoch = feed.NewEpoch()
	}
	return cfg
}

// validate reports the first problem with a defaulted Config.
func (cfg Config) validate() error {
	switch {
	case cfg.Path == "":
		return errors.New("replay: no path")
	case cfg.Format != formatNDJSON && cfg.Format != formatCSV:
		return fmt.Errorf("replay: format %q, want %q or %q", cfg.Format, formatNDJSON, formatCSV)
	case !(cfg.Speed > 0) || math.IsInf(cfg.Speed, 1):
		return fmt.Errorf("replay: speed %v must be positive and finite", cfg.Speed)
	case cfg.Timestamps != TimestampsEmission && cfg.Timestamps != TimestampsRecorded:
		return fmt.Errorf("replay: timestamps %q, want %q or %q", cfg.Timestamps, TimestampsEmission, TimestampsRecorded)
	case !feed.ValidEpoch(cfg.Epoch):
		return fmt.Errorf("replay: epoch %q: want 1-32 of A-Z a-z 0-9 _ -", cfg.Epoch)
	}
	return nil
}

// Source is a feed.Source replaying a file. New reads the whole file into
// memory (up to 10M messages), so its symbols are known up front
// (Listings) and Loop costs no reread. Listings may be called from any
// goroutine; Run may be called once.
//
// Books and status: an NDJSON file may hold book and status lines among
// its ticks (depth.go). A sink that is a feed.DepthSink gets them in file
// order with the ticks; a plain Sink gets the ticks alone. Timing, TS,
// Loop and Epoch below apply to them as to ticks, each kind with its own
// seqs.
//
// Timing: each message is due its recorded offset from the file's first,
// divided by Speed, after Run starts; a message stamped earlier than the
// one before it is due with it. Run sleeps only until the next tick due more
// than a millisecond ahead and then emits every tick due by then, so
// sub-millisecond gaps cost no timer and a tick may leave up to 1ms early.
// A slow sink delays ticks; Run then catches up without dropping any.
//
// TS: with TimestampsEmission (the default) an emitted tick carries the
// wall-clock time of its emission, not its recorded ts, so that delivery
// latency is measured from when the gateway got the tick, as with a live
// feed. With TimestampsRecorded it carries its ts as in the file, so that
// whatever is computed from ts (bars are bucketed by it) comes out as it
// did for the live run of the same ticks; delivery latency is then measured
// from the recorded time. Seq is kept as recorded.
//
// Loop: play k (from 0) adds k times the symbol's highest seq (of the
// message's kind) in the file to each seq, so seqs keep rising across
// plays and the engine's stale-seq filter does not drop a replayed tick.
// A file whose seqs run 1..N per symbol thus continues N+1, N+2, ... with
// no gap. The next play starts one
// mean tick interval after the last tick (one second if the file's ticks
// all share one ts); that span plus pause is the period. With
// TimestampsRecorded play k also adds k periods to each ts, so recorded
// time keeps rising across plays at the pace the ticks are played.
//
// Epoch: seqs keep rising across plays, so one Run is one run of
// numbering and all its ticks carry Config.Epoch; recorded epochs are
// replaced. A file recorded across a publisher restart, whose seqs go back
// within it, is played as recorded: a receiver drops the ticks whose seq
// went back as stale.
type Source struct {
	path     string
	speed    float64
	fast     bool
	loop     bool
	recorded bool // TS as in the file (TimestampsRecorded)
	epoch    string
	file     *file
	period   time.Duration // recorded time from one play's start to the next
	log      *slog.Logger
	metrics  *metrics
	running  atomic.Bool
}

var _ feed.Source = (*Source)(nil)

// New checks cfg, reads the file and returns a Source ready to Run. Bad
// lines are counted in the metrics registered with reg and logged to log,
// once per symbol, kind and reason (feed.Refusals); New fails if the file
// cannot be read, has no valid message or, for CSV, lacks a usable header.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Source, error) {
	cfg = cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	log = log.With("subsystem", "feed", "source", "replay")
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	refusals, err := feed.NewRefusals(reg, "replay", log)
	if err != nil {
		return nil, err
	}
	f, err := load(cfg.Path, cfg.Format, refusals, log)
	if err != nil {
		return nil, err
	}
	return &Source{
		path:     cfg.Path,
		speed:    cfg.Speed,
		fast:     cfg.Fast,
		loop:     cfg.Loop,
		recorded: cfg.Timestamps == TimestampsRecorded,
		epoch:    cfg.Epoch,
		file:     f,
		period:   period(f.records),
		log:      log,
		metrics:  m,
	}, nil
}

// period returns the recorded time one play takes including the pause
// before the next: the span plus one mean tick interval.
func period(recs []record) time.Duration {
	span := recs[len(recs)-1].at
	if span == 0 {
		return time.Second
	}
	return span + span/time.Duration(max(len(recs)-1, 1))
}

// Epoch returns the epoch every tick of Run carries.
func (s *Source) Epoch() string { return s.epoch }

// Listings lists the file's symbols in order of first appearance, with
// no previous close (a recording carries none).
func (s *Source) Listings() []feed.Listing { return feed.Listed(s.file.names...) }

// Run plays the file into sink until it ends (without Loop) or ctx is done,
// then returns nil. It may be called only once.
func (s *Source) Run(ctx context.Context, sink feed.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("replay: Run called more than once")
	}
	p := player{src: s, sink: sink, done: ctx.Done(), start: time.Now()}
	p.depth, _ = sink.(feed.DepthSink)
	if !s.fast {
		p.timer = time.NewTimer(time.Hour)
		p.timer.Stop()
		defer p.timer.Stop()
	}
	for play := uint64(0); ; play++ {
		if !p.play(play) {
			return nil
		}
		s.metrics.loops.Inc()
		if !s.loop {
			return nil
		}
	}
}

// early is how far ahead of its due time a tick may be emitted, so that
// ticks closer together than timers are precise go out in one batch.
const early = time.Millisecond

// player is the state of one Run.
type player struct {
	src   *Source
	sink  feed.Sink
	depth feed.DepthSink // sink, if it takes books and status
	done  <-chan struct{}
	start time.Time   // when tick 0 of play 0 was due
	timer *time.Timer // nil when playing fast
}

// play emits every tick once, renumbered for play n. It reports false if
// done closed first.
func (p *player) play(n uint64) bool {
	recs := p.src.file.records
	base := time.Duration(n) * p.src.period
	for i := 0; i < len(recs); {
		if p.timer != nil && !p.wait(base+recs[i].at) {
			return false
		}
		now := time.Since(p.start) + early
		for batch := 0; i < len(recs) && (p.timer == nil || p.due(base+recs[i].at) <= now); i, batch = i+1, batch+1 {
			if batch%1024 == 0 && p.stopped() {
				return false
			}
			p.emit(&recs[i], n)
		}
		if p.stopped() {
			return false
		}
	}
	return true
}

// due is when, since start, the tick at recorded offset at is due.
func (p *player) due(at time.Duration) time.Duration {
	return time.Duration(float64(at) / p.src.speed)
}

// wait sleeps until early before the tick at recorded offset at is due. It
// reports false if done closed first.
func (p *player) wait(at time.Duration) bool {
	d := p.due(at) - time.Since(p.start) - early
	if d <= 0 {
		return true
	}
	p.timer.Reset(d)
	select {
	case <-p.done:
		return false
	case <-p.timer.C:
		return true
	}
}

// stopped reports whether done has closed.
func (p *player) stopped() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// emit publishes r as played in play n (restamp).
func (p *player) emit(r *record, n uint64) {
	switch r.kind {
	case feed.KindBook:
		p.emitBook(r, n)
		return
	case feed.KindStatus:
		p.emitStatus(r, n)
		return
	}
	t := r.tick
	p.restamp(r, n, &t.Seq, &t.Epoch, &t.TS)
	p.sink.Publish(t)
}

// restamp sets the seq, epoch and ts of r's message, as recorded, to
// those it has played in play n: seq raised by n times the highest seq of
// its kind and symbol in the file, the run's epoch, and TS the time of
// emission or, when recorded, the recorded ts raised by n periods.
func (p *player) restamp(r *record, n uint64, seq *uint64, epoch *string, ts *int64) {
	*seq += n * p.src.file.maxSeq[r.kind][r.sym]
	*epoch = p.src.epoch
	if p.src.recorded {
		*ts += int64(n) * int64(p.src.period)
	} else {
		*ts = time.Now().UnixNano()
	}
}
