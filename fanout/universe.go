package fanout

import (
	"maps"
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tickgate/tickgate/feed"
)

// The universe is the set of symbols the engine carries, and it changes
// while the engine runs: the feed lists a symbol (Engine.List, or the
// first tick of a symbol not listed) and delists it, and a symbol idle for
// Config.RetireAfter is retired (retire.go). What the engine accepts is
// bounded: a symbol must match Config.Pattern, and at most
// Config.MaxSymbols are listed at once; a tick or listing past either is
// dropped and counted.
//
// Lookups take no lock. The table is copy-on-write behind an atomic
// pointer, in two parts so that a listing does not copy the whole market:
// base, rebuilt only when the changes since pile up past mergeAt (4√n for
// a universe of n), and recent, the symbols listed since,
// copied at each listing. A retired symbol is not taken out at once: it
// stays in the table, marked (symbol.retired), until the next rebuild,
// and a lookup passes over it. So a listing costs a copy of recent and,
// amortised, a share of one rebuild: O(√n), not O(n). Writers (listing,
// retiring, rebuilding) take universe.mu, after any shard lock.

// defaultMaxSymbols is Config.MaxSymbols when it is 0.
const defaultMaxSymbols = 20000

// minMergeAt is the fewest changes that trigger a rebuild of the table.
const minMergeAt = 64

// refusal is why the engine dropped a tick or listing instead of taking
// it; its String is the metric label.
type refusal uint8

const (
	listed         refusal = iota // not refused
	refusedPattern                // the symbol does not match Config.Pattern
	refusedMax                    // Config.MaxSymbols are listed already
	refusedUnknown                // a delisting of a symbol not listed
	refusedInvalid                // a listing that fails feed.Listing.Validate

	numRefusals = iota
)

var refusalNames = [numRefusals]string{"", "outside_pattern", "max_symbols", "unknown_symbol", "invalid"}

func (r refusal) String() string { return refusalNames[r] }

// numFedKinds bounds the kinds of message from the feed (feed.Kind) the
// universe may refuse: each has its dropped counter
// (tickgate_feed_dropped_ticks_total, _books_total, _statuses_total,
// _listings_total), labelled by refusal.
const numFedKinds = feed.KindListing + 1

// lastRefusal is the last refusal a message of kind k can get: a tick,
// book or status only outside_pattern and max_symbols; a listing any.
func lastRefusal(k feed.Kind) refusal {
	if k == feed.KindListing {
		return numRefusals - 1
	}
	return refusedMax
}

// table is one immutable version of the symbol table; only order's
// backing array is shared with the next version, which may append to it
// past this version's length.
type table struct {
	base   map[string]*symbol
	recent map[string]*symbol // listed since base was built
	// order is every symbol listed, in listing order: /symbols and
	// Symbols read it. Retired ones stay until the next rebuild.
	order []*symbol
}

// get returns the live realtime symbol named name, or nil.
func (t *table) get(name string) *symbol {
	if sym := t.base[name]; sym != nil && !sym.retired.Load() {
		return sym
	}
	if len(t.recent) == 0 {
		return nil
	}
	if sym := t.recent[name]; sym != nil && !sym.retired.Load() {
		return sym
	}
	return nil
}

// universe is the engine's symbol table and the rules for changing it.
type universe struct {
	tab  atomic.Pointer[table]
	live atomic.Int64 // symbols listed and not retired, for the gauge

	mu      sync.Mutex // writers: list, retired, and the rebuild
	changes int        // listings and retirements since base was built
	nextID  uint64     // the id of the next symbol listed (symbol.id)
}

// mergeAt is how many changes since the last rebuild trigger the next one
// for a universe of n symbols: 4√n balances the copies of recent, which
// grow with it, against the rebuilds, which cost O(n) each and come less
// often (BenchmarkListing).
func mergeAt(n int) int { return max(minMergeAt, 4*int(math.Sqrt(float64(n)))) }

// lookup returns the live realtime symbol named name, or nil.
func (e *Engine) lookup(name string) *symbol { return e.u.tab.Load().get(name) }

// listOne returns the live symbol named name, listing it with prevClose
// (0 for none) if it is not, and why not if it may not be: it is outside
// the pattern, or the universe is full. A symbol listed here is not yet on its shard's list:
// the shard adds it when the first message about it comes (shard.add).
func (e *Engine) listOne(name string, prevClose float64) (*symbol, refusal) {
	u := &e.u
	u.mu.Lock()
	defer u.mu.Unlock()
	t := u.tab.Load()
	if sym := t.get(name); sym != nil {
		return sym, listed
	}
	switch {
	case e.cfg.Pattern != nil && !e.cfg.Pattern.MatchString(name):
		return nil, refusedPattern
	case u.live.Load() >= int64(e.cfg.MaxSymbols):
		return nil, refusedMax
	}
	sym := e.newListing(name, prevClose)
	next := &table{base: t.base, recent: maps.Clone(t.recent), order: append(t.order, sym)}
	if next.recent == nil {
		next.recent = make(map[string]*symbol, 1)
	}
	next.recent[name] = sym
	u.store(next)
	u.live.Add(1)
	e.metrics.listed.Inc()
	return sym, listed
}

// listFor is the symbol a message of kind k from the feed names, for the
// feed's goroutine: the live one, without a lock, or else listOne's, newly
// listed with prevClose; nil, the message counted as refused, if the
// universe refuses it.
func (e *Engine) listFor(name string, k feed.Kind, prevClose float64) *symbol {
	if sym := e.lookup(name); sym != nil {
		return sym
	}
	sym, why := e.listOne(name, prevClose)
	if sym == nil {
		e.metrics.refused[k][why].Inc()
	}
	return sym
}

// newListing makes name's symbol (and its delayed twin), with the next
// id and prevClose, before anyone can look it up. The caller holds
// universe.mu.
func (e *Engine) newListing(name string, prevClose float64) *symbol {
	e.u.nextID++
	sym := e.newSymbol(name, e.shards[shardOf(name, len(e.shards))], false)
	sym.id = e.u.nextID
	sym.prevClose.Store(math.Float64bits(prevClose))
	if e.cfg.Delay > 0 {
		sym.delayed = e.newSymbol(name, sym.shard, true)
		sym.delayed.id = sym.id
	}
	return sym
}

// retired notes that a shard retired a symbol (retire.go): it no longer
// counts toward Config.MaxSymbols, and the next rebuild drops it. The
// caller holds the symbol's shard lock.
func (e *Engine) retired() {
	u := &e.u
	u.mu.Lock()
	defer u.mu.Unlock()
	u.live.Add(-1)
	u.store(u.tab.Load())
}

// store makes next the table after one more change, a listing or a
// retirement: rebuilt, if the changes since the last rebuild reach
// mergeAt. The caller holds universe.mu.
func (u *universe) store(next *table) {
	if u.changes++; u.changes >= mergeAt(len(next.order)) {
		next, u.changes = next.rebuilt(), 0
	}
	u.tab.Store(next)
}

// rebuilt is t with every live symbol in base and none retired. It costs
// O(n). The caller holds universe.mu.
func (t *table) rebuilt() *table {
	next := &table{base: make(map[string]*symbol, len(t.order)), order: make([]*symbol, 0, len(t.order))}
	for _, sym := range t.order {
		if !sym.retired.Load() {
			next.base[sym.name] = sym
			next.order = append(next.order, sym)
		}
	}
	return next
}

// SymbolInfo is what the engine knows of one listed symbol.
type SymbolInfo struct {
	Name string
	// PrevClose is the previous close of the symbol's last listing; 0 when
	// the feed gave none.
	PrevClose float64
}

// Symbols returns the symbols the engine carries, in listing order.
func (e *Engine) Symbols() []string {
	order := e.u.tab.Load().order
	out := make([]string, 0, len(order))
	for _, sym := range order {
		if !sym.retired.Load() {
			out = append(out, sym.name)
		}
	}
	return out
}

// Known reports whether the engine carries sym.
func (e *Engine) Known(sym string) bool { return e.lookup(sym) != nil }

// Info returns what the engine knows of sym, if it carries it.
func (e *Engine) Info(sym string) (SymbolInfo, bool) {
	s := e.lookup(sym)
	if s == nil {
		return SymbolInfo{}, false
	}
	return s.info(), true
}

// Find returns, in listing order, the symbols the engine carries whose
// name starts with prefix and that keep (nil: every one) keeps, at most
// limit of them (limit <= 0: all). It reads the table without a lock and
// costs O(symbols) at most, less when limit is reached first.
func (e *Engine) Find(prefix string, limit int, keep func(name string) bool) []SymbolInfo {
	var out []SymbolInfo
	for _, sym := range e.u.tab.Load().order {
		if limit > 0 && len(out) == limit {
			break
		}
		if sym.retired.Load() || !strings.HasPrefix(sym.name, prefix) || (keep != nil && !keep(sym.name)) {
			continue
		}
		out = append(out, sym.info())
	}
	return out
}

// info is what SymbolInfo tells of sym.
func (sym *symbol) info() SymbolInfo {
	return SymbolInfo{Name: sym.name, PrevClose: math.Float64frombits(sym.prevClose.Load())}
}

// List takes reference data from the feed (feed.Sink): a listing lists
// the symbol, if it is not, and sets its previous close; a delisting
// retires it, in feed order with its ticks. A listing the universe
// refuses, or a delisting of a symbol not listed, is counted and dropped.
// Like Publish it must be called from the feed's goroutine.
func (e *Engine) List(l feed.Listing) {
	if l.Validate() != nil {
		e.metrics.refused[feed.KindListing][refusedInvalid].Inc()
		return
	}
	sym := e.lookup(l.Symbol)
	switch {
	case l.Delisted && sym == nil:
		e.metrics.refused[feed.KindListing][refusedUnknown].Inc()
		return
	case l.Delisted:
		e.send(inTick{sym: sym, op: opDelist})
		return
	case sym == nil:
		// Listed with its previous close, so /symbols never shows it without.
		if sym = e.listFor(l.Symbol, feed.KindListing, l.PrevClose); sym == nil {
			return
		}
	}
	if l.PrevClose > 0 {
		sym.prevClose.Store(math.Float64bits(l.PrevClose))
	}
	e.send(inTick{sym: sym, op: opList})
}

var _ feed.Sink = (*Engine)(nil)
