package fanout

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// ErrUnknownSymbol reports a symbol the engine does not carry.
var ErrUnknownSymbol = errors.New("fanout: unknown symbol")

// Config tunes the engine. The zero value of each field picks its default.
type Config struct {
	// Shards is the number of shard goroutines; 0 means GOMAXPROCS.
	Shards int
	// QueueBytes bounds each client's queue in bytes; 0 means 1 MiB.
	QueueBytes int
	// InboxTicks is the capacity of each shard's inbound tick channel;
	// 0 means 4096. A full inbox makes Publish wait: the feed, not a client,
	// absorbs a fan-out that cannot keep up.
	InboxTicks int
}

// Engine fans ticks out to subscribed clients. Its symbol table is fixed at
// New and never written after, so Publish reads it without a lock.
type Engine struct {
	symbols map[string]*symbol
	names   []string
	shards  []*shard
	cfg     Config
	metrics *metrics
	stopped chan struct{} // closed when Run returns

	subscriptions atomic.Int64
}

// New builds an engine for symbols and registers its metrics with reg.
func New(cfg Config, symbols []string, reg prometheus.Registerer) (*Engine, error) {
	if cfg.Shards <= 0 {
		cfg.Shards = runtime.GOMAXPROCS(0)
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 1 << 20
	}
	if cfg.InboxTicks <= 0 {
		cfg.InboxTicks = 4096
	}
	e := &Engine{
		symbols: make(map[string]*symbol, len(symbols)),
		cfg:     cfg,
		stopped: make(chan struct{}),
	}
	for i := 0; i < cfg.Shards; i++ {
		e.shards = append(e.shards, newShard(cfg.InboxTicks))
	}
	for _, name := range symbols {
		if !feed.ValidSymbol(name) {
			return nil, fmt.Errorf("fanout: invalid symbol %q", name)
		}
		if _, dup := e.symbols[name]; dup {
			return nil, fmt.Errorf("fanout: duplicate symbol %q", name)
		}
		e.symbols[name] = &symbol{name: name, shard: e.shards[shardOf(name, cfg.Shards)]}
		e.names = append(e.names, name)
	}
	m, err := newMetrics(reg, e)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	for _, s := range e.shards {
		s.metrics = m
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
// called from one goroutine, so each symbol's ticks stay in feed order. A
// tick for a symbol the engine does not carry is counted and dropped.
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

// Symbols returns the symbols the engine carries, in configuration order.
func (e *Engine) Symbols() []string { return append([]string(nil), e.names...) }

// Known reports whether the engine carries sym.
func (e *Engine) Known(sym string) bool {
	_, ok := e.symbols[sym]
	return ok
}

// Last returns the latest tick of sym, if it has one.
func (e *Engine) Last(sym string) (feed.Tick, bool) {
	s, ok := e.symbols[sym]
	if !ok {
		return feed.Tick{}, false
	}
	s.shard.mu.Lock()
	defer s.shard.mu.Unlock()
	return s.last, s.last.Seq > 0
}

// NewClient returns an open client whose queue holds Config.QueueBytes.
func (e *Engine) NewClient() *Client { return newClient(e.cfg.QueueBytes) }

// Subscribe adds c to each symbol in syms it is not yet subscribed to and,
// under that symbol's shard lock, queues the symbol's latest tick as its
// snapshot, so the live ticks that follow continue its seq with nothing
// lost or repeated. If any symbol is unknown, nothing changes. It returns
// the symbols newly added. Subscribe, Unsubscribe and Symbols of one client
// must be called from one goroutine.
func (e *Engine) Subscribe(c *Client, syms []string) ([]string, error) {
	for _, name := range syms {
		if !e.Known(name) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownSymbol, name)
		}
	}
	var added []string
	for _, name := range syms {
		if _, ok := c.syms[name]; ok {
			continue
		}
		c.syms[name] = struct{}{}
		added = append(added, name)
		e.symbols[name].add(c)
	}
	e.subscriptions.Add(int64(len(added)))
	return added, nil
}

// Unsubscribe removes c from each of syms it is subscribed to and returns
// those symbols. Ticks already queued stay queued.
func (e *Engine) Unsubscribe(c *Client, syms []string) []string {
	var removed []string
	for _, name := range syms {
		if _, ok := c.syms[name]; !ok {
			continue
		}
		delete(c.syms, name)
		removed = append(removed, name)
		e.symbols[name].remove(c)
	}
	e.subscriptions.Add(-int64(len(removed)))
	return removed
}

// UnsubscribeAll removes c from every symbol; sessions call it on close.
func (e *Engine) UnsubscribeAll(c *Client) {
	for name := range c.syms {
		e.symbols[name].remove(c)
	}
	e.subscriptions.Add(-int64(len(c.syms)))
	clear(c.syms)
}

// SymbolsOf returns the symbols c is subscribed to, in engine order.
func (e *Engine) SymbolsOf(c *Client) []string {
	out := make([]string, 0, len(c.syms))
	for _, name := range e.names {
		if _, ok := c.syms[name]; ok {
			out = append(out, name)
		}
	}
	return out
}

// Subscriptions reports the number of (client, symbol) subscriptions.
func (e *Engine) Subscriptions() int64 { return e.subscriptions.Load() }
