package fanout

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// Config tunes the engine. The zero value of each field picks its default,
// except History, whose zero turns history off.
type Config struct {
	// Shards is the number of shard goroutines; 0 means GOMAXPROCS.
	Shards int
	// QueueBytes bounds each client's queue in bytes; 0 means 1 MiB.
	QueueBytes int
	// ConflateAt is the queued bytes at which a client's queue switches
	// from FIFO to the latest tick per subscription; 0 means QueueBytes/4.
	// A value at or above QueueBytes turns conflation off.
	ConflateAt int
	// InboxTicks is the capacity of each shard's inbound tick channel;
	// 0 means 4096. A full inbox makes Publish wait: the feed, not a client,
	// absorbs a fan-out that cannot keep up.
	InboxTicks int
	// RateClasses are the max rates (updates/s per symbol) a subscription
	// can get; a request rounds down to one. nil means DefaultRateClasses.
	RateClasses []float64
	// RatePhases is how many phases each rate class's slot grid comes in
	// (rate.go): clients are spread over them, so that those of one class
	// do not all get their frame at the same instant. 0 means 8; 1 puts
	// every client on the same grid.
	RatePhases int
	// History is the number of recent ticks each symbol keeps for recovery
	// (Policy.Since); 0 keeps none.
	History int
	// Delay is how long after its feed timestamp a delayed subscriber gets
	// each tick (Policy.Delayed); 0 means no delayed tier.
	Delay time.Duration
	// DelayMaxBytes bounds the delay line (88 bytes a held tick's slot);
	// a symbol whose lane would pass it merges its own oldest held ticks
	// (delay.go). 0 means 256 MiB.
	DelayMaxBytes int
	// MemoryBudget bounds, in bytes, every message the engine keeps: the
	// snapshots and histories of all topics and the delay line, split
	// evenly over the shards (budget.go). 0 means 256 MiB.
	MemoryBudget int64
	// BarGrace is how long past its bucket's end, on the feed clock, a
	// bar waits for late ticks before it is final (bars.go); 0 means
	// 250ms.
	BarGrace time.Duration
	// BarHistory is the number of final bars each bar topic keeps for
	// history and recovery; 0 keeps none.
	BarHistory int
	// BookDepth is how many levels a side each symbol's book keeps and
	// serves; a book message that would leave more is bad data, dropped.
	// 0 means 10. Book updates share History with ticks for recovery.
	BookDepth int
	// StaleAfter is how long an open symbol may go without a tick while
	// the feed is up before its status turns stale; 0 means 10 s, below
	// 0 turns the check off.
	StaleAfter time.Duration
	// Logger logs what the feed does wrong (epoch conflicts, at most once
	// a minute per symbol); nil discards.
	Logger *slog.Logger
}

// Engine fans ticks out to subscribed clients. Its symbol table is fixed at
// New and never written after, so Publish reads it without a lock.
type Engine struct {
	symbols map[string]*symbol
	names   []string
	shards  []*shard
	classes []rateClass
	cfg     Config
	metrics *metrics
	stopped chan struct{} // closed when Run returns
	health  feedHealth    // SetFeedUp
	free    depthFree     // books and statuses on their way, for reuse (depth.go)
	syncMu  sync.Mutex    // one Sync at a time: each shard holds at most one marker

	subscriptions atomic.Int64
	degraded      atomic.Int64  // clients whose queue conflates
	clients       atomic.Uint64 // made by NewClient, for round-robin phases
}

// New builds an engine for symbols and registers its metrics with reg.
func New(cfg Config, symbols []string, reg prometheus.Registerer) (*Engine, error) {
	if cfg.Shards <= 0 {
		cfg.Shards = runtime.GOMAXPROCS(0)
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 1 << 20
	}
	if cfg.ConflateAt <= 0 {
		cfg.ConflateAt = cfg.QueueBytes / 4
	}
	if cfg.InboxTicks <= 0 {
		cfg.InboxTicks = 4096
	}
	if cfg.DelayMaxBytes <= 0 {
		cfg.DelayMaxBytes = 256 << 20
	}
	if cfg.MemoryBudget <= 0 {
		cfg.MemoryBudget = 256 << 20
	}
	if cfg.BarGrace <= 0 {
		cfg.BarGrace = 250 * time.Millisecond
	}
	if cfg.BookDepth <= 0 {
		cfg.BookDepth = 10
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.RatePhases <= 0 {
		cfg.RatePhases = defaultRatePhases
	}
	classes, err := newRateClasses(cfg.RateClasses)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		symbols: make(map[string]*symbol, len(symbols)),
		classes: classes,
		cfg:     cfg,
		stopped: make(chan struct{}),
		free:    make(depthFree, depthFreeCap),
	}
	for i := range cfg.Shards {
		e.shards = append(e.shards, newShard(i, &cfg, phased(classes, cfg.RatePhases)))
	}
	for _, name := range symbols {
		if !feed.ValidSymbol(name) {
			return nil, fmt.Errorf("fanout: invalid symbol %q", name)
		}
		if _, dup := e.symbols[name]; dup {
			return nil, fmt.Errorf("fanout: duplicate symbol %q", name)
		}
		sym := e.newSymbol(name, e.shards[shardOf(name, cfg.Shards)], false)
		if cfg.Delay > 0 {
			sym.delayed = e.newSymbol(name, sym.shard, true)
		}
		sym.shard.add(sym)
		e.symbols[name] = sym
		e.names = append(e.names, name)
	}
	m, err := newMetrics(reg, e)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	for _, s := range e.shards {
		s.metrics, s.stale.health, s.free = m, &e.health, e.free
	}
	return e, nil
}

// shardOf maps a symbol to its shard by FNV-1a hash.
func shardOf(name string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(n))
}

// Run runs the shard goroutines until ctx is done. Publish and Subscribe
// may be called before Run starts; ticks wait in the shard inboxes.
func (e *Engine) Run(ctx context.Context) error {
	defer close(e.stopped)
	var wg sync.WaitGroup
	for _, s := range e.shards {
		wg.Go(func() { s.run(ctx) })
	}
	wg.Wait()
	return nil
}

// Publish hands t to its symbol's shard. It implements feed.Sink and must be
// called from one goroutine, so each symbol's ticks (and books and status,
// depth.go) stay in feed order. A tick for a symbol the engine does not
// carry is counted and dropped.
func (e *Engine) Publish(t feed.Tick) {
	sym, ok := e.symbols[t.Symbol]
	if !ok {
		e.metrics.unknownTicks.Inc()
		return
	}
	select {
	case sym.shard.in <- inTick{sym: sym, tick: t}:
	case <-e.stopped:
	}
}

var _ feed.Sink = (*Engine)(nil)

// Sync returns once every tick Published before it has been delivered:
// queued for the clients that take every tick, held by their rate
// classes, put in the delay line. A caller that tells clients something
// about the feed after it (the feed ended) is then heard after those
// ticks. It waits behind the ticks in each shard's inbox, so call it from
// the goroutine that Publishes, or once that stopped; it returns at once
// when the engine has stopped.
func (e *Engine) Sync() {
	e.syncMu.Lock()
	defer e.syncMu.Unlock()
	for _, s := range e.shards {
		select {
		case s.in <- inTick{}:
		case <-e.stopped:
			return
		}
	}
	for _, s := range e.shards {
		select {
		case <-s.synced:
		case <-e.stopped:
			return
		}
	}
}

// Symbols returns the symbols the engine carries, in configuration order.
func (e *Engine) Symbols() []string { return append([]string(nil), e.names...) }

// Known reports whether the engine carries sym.
func (e *Engine) Known(sym string) bool {
	_, ok := e.symbols[sym]
	return ok
}

// NewClient returns an open client whose queue holds Config.QueueBytes.
// start is called with the client, without blocking, whenever the
// client's queue needs a writer; the writer it sets going must call Next
// until Next finds nothing (a session puts itself on its write lane).
func (e *Engine) NewClient(start func(*Client)) *Client {
	return &Client{
		start: start,
		done:  make(chan struct{}),
		e:     e,
		q: queue{
			limit:      e.cfg.QueueBytes,
			conflateAt: e.cfg.ConflateAt,
			lowWater:   e.cfg.ConflateAt / 4,
		},
		subs:  make(map[*topic]*subscription),
		phase: int((e.clients.Add(1) - 1) % uint64(e.cfg.RatePhases)),
	}
}

// RateOf returns the rate class a max_rate request gets, 0 for every tick.
func (e *Engine) RateOf(maxRate float64) float64 {
	if k := classOf(e.classes, maxRate); k > 0 {
		return e.classes[k-1].rate
	}
	return 0
}
