package fanout

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"

	"regexp"
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
	// Pattern, if not nil, must match (MatchString: anchor it to match
	// the whole symbol) every symbol the engine lists (universe.go); a
	// tick or listing of another is dropped and counted. nil takes every
	// valid symbol (feed.ValidSymbol).
	Pattern *regexp.Regexp
	// MaxSymbols bounds the symbols listed at once; past it a new symbol's
	// ticks and listings are dropped and counted. 0 means 20,000.
	MaxSymbols int
	// RetireAfter retires a symbol that had no tick or listing for this
	// long (retire.go); 0 never does.
	RetireAfter time.Duration
}

// Engine fans ticks out to subscribed clients. Its symbol table changes
// while it runs (universe.go), but Publish reads it without a lock.
type Engine struct {
	u       universe
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

// New builds an engine that carries universe, the symbols the feed lists
// before it runs (it may list more later), and registers its metrics with
// reg.
func New(cfg Config, universe []feed.Listing, reg prometheus.Registerer) (*Engine, error) {
	cfg = cfg.defaults()
	classes, err := newRateClasses(cfg.RateClasses)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		classes: classes,
		cfg:     cfg,
		stopped: make(chan struct{}),
		free:    make(depthFree, depthFreeCap),
	}
	for i := range cfg.Shards {
		e.shards = append(e.shards, newShard(i, e, &cfg, phased(classes, cfg.RatePhases)))
	}
	if err := e.listUniverse(universe); err != nil {
		return nil, err
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

// defaults returns cfg with its zero fields replaced by their defaults.
func (cfg Config) defaults() Config {
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
	if cfg.MaxSymbols <= 0 {
		cfg.MaxSymbols = defaultMaxSymbols
	}
	return cfg
}

// listUniverse lists the symbols of universe in one table, each on its
// shard's list at once. It refuses an invalid or duplicate symbol, one
// outside Config.Pattern, and more than Config.MaxSymbols.
func (e *Engine) listUniverse(universe []feed.Listing) error {
	if len(universe) > e.cfg.MaxSymbols {
		return fmt.Errorf("fanout: %d symbols listed at start, more than the %d allowed", len(universe), e.cfg.MaxSymbols)
	}
	t := &table{base: make(map[string]*symbol, len(universe)), order: make([]*symbol, 0, len(universe))}
	for _, l := range universe {
		switch {
		case l.Validate() != nil || l.Delisted:
			return fmt.Errorf("fanout: invalid listing of %q", l.Symbol)
		case t.base[l.Symbol] != nil:
			return fmt.Errorf("fanout: duplicate symbol %q", l.Symbol)
		case e.cfg.Pattern != nil && !e.cfg.Pattern.MatchString(l.Symbol):
			return fmt.Errorf("fanout: symbol %q does not match the pattern %s", l.Symbol, e.cfg.Pattern)
		}
		sym := e.newListing(l.Symbol, l.PrevClose)
		sym.shard.add(sym, time.Now().UnixNano())
		t.base[l.Symbol] = sym
		t.order = append(t.order, sym)
	}
	e.u.tab.Store(t)
	e.u.live.Store(int64(len(t.order)))
	return nil
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
// called from one goroutine, so each symbol's ticks (and books, status
// and listings: depth.go, universe.go) stay in feed order. A tick of a
// symbol not listed lists it (universe.go), or is dropped and counted if
// the universe refuses it. Looking up a listed symbol takes no lock.
func (e *Engine) Publish(t feed.Tick) {
	sym := e.lookup(t.Symbol) // inline here: listFor's call costs every tick 20 instructions
	if sym == nil {
		if sym = e.listFor(t.Symbol, feed.KindTick, 0); sym == nil {
			return
		}
	}
	select { // send, written out: the tick path copies the tick once
	case sym.shard.in <- inTick{sym: sym, tick: t}:
	case <-e.stopped:
	}
}

// send hands in to its symbol's shard, waiting while the shard's inbox is
// full, and reports false if the engine stopped first.
func (e *Engine) send(in inTick) bool {
	select {
	case in.sym.shard.in <- in:
		return true
	case <-e.stopped:
		return false
	}
}

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
