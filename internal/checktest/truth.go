package checktest

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// Entry is one published tick as the truth knows it: the tick, the run of
// numbering it belongs to and when the truth saw it.
type Entry struct {
	Tick feed.Tick
	// Run names the run of seqs: the tick's epoch (feed.DefaultEpoch when
	// it has none), then "/" and a count telling apart runs that share an
	// epoch (publishers that predate epochs): "k3x9f0a1b2c4/1".
	Run string
	At  time.Time
}

// key identifies a published tick as a client sees it: symbol, seq and
// feed timestamp (nanoseconds; two runs never share one per symbol).
type key struct {
	sym string
	seq uint64
	ts  int64
}

// run is one run of seqs of one symbol.
type run struct {
	name   string
	first  time.Time
	last   uint64    // newest seq
	lastAt time.Time // when the truth saw it
}

// Truth is every tick published, by symbol in the order the truth saw
// them.
type Truth struct {
	mu     sync.Mutex
	bySym  map[string][]Entry
	byKey  map[key]Entry
	runs   map[string][]*run // by symbol, in the order they started
	counts map[string]int    // runs per symbol and epoch: sym + " " + epoch
	syncs  []func() error    // Sync's waits, one per subscription
	// synced is when the last Sync began: the truth has every tick a
	// gateway delivered before it, and Check judges only what came then.
	synced time.Time
	// lost is what the truth's NATS connections reported that may have
	// cost it ticks the gateways got (a disconnect, a slow consumer), with
	// when: a tick "never published" near one is the truth's loss.
	lost []string
}

// noteLost records a connection event that may have cost the truth ticks.
func (tr *Truth) noteLost(what string, err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lost = append(tr.lost, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), what, err))
}

// Lost is what the truth's NATS connections reported that may have cost
// it ticks, oldest first; none on a clean run.
func (tr *Truth) Lost() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]string(nil), tr.lost...)
}

// NewTruth returns an empty Truth.
func NewTruth() *Truth {
	return &Truth{bySym: map[string][]Entry{}, byKey: map[key]Entry{}, runs: map[string][]*run{}, counts: map[string]int{}}
}

// Add records tk as published now.
func (tr *Truth) Add(tk feed.Tick) { tr.AddAt(tk, time.Now()) }

// AddAt records tk as published at at. A tick it has already (symbol,
// seq and ts alike: a JetStream redelivery, say) is not a new one.
func (tr *Truth) AddAt(tk feed.Tick, at time.Time) {
	if tk.Epoch == "" {
		tk.Epoch = feed.DefaultEpoch
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if _, ok := tr.byKey[key{tk.Symbol, tk.Seq, tk.TS}]; ok {
		return
	}
	e := Entry{Tick: tk, Run: tr.runOfLocked(tk, at), At: at}
	tr.bySym[tk.Symbol] = append(tr.bySym[tk.Symbol], e)
	tr.byKey[key{tk.Symbol, tk.Seq, tk.TS}] = e
}

// runOfLocked names the run tk continues: of the runs of its symbol and
// epoch, the one with the highest seq below tk's (a publisher's seqs only
// grow, with holes where it dropped ticks), of two such the one that
// published last. A seq no run is below starts a new run: the numbering
// started again under the same epoch.
func (tr *Truth) runOfLocked(tk feed.Tick, at time.Time) string {
	var best *run
	prefix := tk.Epoch + "/"
	for _, r := range tr.runs[tk.Symbol] {
		if !strings.HasPrefix(r.name, prefix) || r.last >= tk.Seq {
			continue
		}
		if best == nil || r.last > best.last || r.last == best.last && r.lastAt.After(best.lastAt) {
			best = r
		}
	}
	if best == nil {
		ck := tk.Symbol + " " + tk.Epoch
		tr.counts[ck]++
		best = &run{name: prefix + strconv.Itoa(tr.counts[ck]), first: at}
		tr.runs[tk.Symbol] = append(tr.runs[tk.Symbol], best)
	}
	best.last, best.lastAt = tk.Seq, at
	return best.name
}

// find returns the published tick a client got as (sym, seq, ts).
func (tr *Truth) find(sym string, seq uint64, ts int64) (Entry, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	e, ok := tr.byKey[key{sym, seq, ts}]
	return e, ok
}

// replacedBy returns the run that replaced sym's run name at least slack
// before at (the latest to start of the runs that started after it), or
// "" while name is current.
func (tr *Truth) replacedBy(sym, name string, at time.Time, slack time.Duration) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	by, after := "", false
	for _, r := range tr.runs[sym] {
		if after && r.first.Add(slack).Before(at) {
			by = r.name
		}
		after = after || r.name == name
	}
	return by
}

// holeAfter reports the first seq missing from e's run after e among the
// ticks the truth saw up to at, or 0 when there is none.
func (tr *Truth) holeAfter(e Entry, at time.Time) uint64 {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	want := e.Tick.Seq + 1
	for _, x := range tr.bySym[e.Tick.Symbol] {
		if x.Run != e.Run || x.Tick.Seq <= e.Tick.Seq || x.At.After(at) {
			continue
		}
		if x.Tick.Seq != want {
			return want
		}
		want++
	}
	return 0
}

// firstAfter returns the first tick of sym the truth saw after at.
func (tr *Truth) firstAfter(sym string, at time.Time) (Entry, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, x := range tr.bySym[sym] {
		if x.At.After(at) {
			return x, true
		}
	}
	return Entry{}, false
}

// Ticks returns how many ticks of sym the truth has seen.
func (tr *Truth) Ticks(sym string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.bySym[sym])
}

// Runs returns the names of sym's runs, in the order they started.
func (tr *Truth) Runs(sym string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var names []string
	for _, r := range tr.runs[sym] {
		names = append(names, r.name)
	}
	return names
}

// Bar is a bar as the truth computes it from the ticks of one bucket.
type Bar struct {
	O, H, L, C float64
	V, N       int64
}

// bar computes the bar of sym's bucket [t, t+interval) from every tick
// the truth saw, and whether the bucket had any.
func (tr *Truth) bar(sym string, t, interval int64) (Bar, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var b Bar
	for _, x := range tr.bySym[sym] {
		tk := x.Tick
		if tk.TS < t || tk.TS >= t+interval {
			continue
		}
		if b.N == 0 {
			b.O, b.H, b.L = tk.Price, tk.Price, tk.Price
		}
		b.H, b.L, b.C = max(b.H, tk.Price), min(b.L, tk.Price), tk.Price
		b.V += tk.Size
		b.N++
	}
	return b, b.N > 0
}

// bucketsBetween reports whether sym had a tick in a bucket strictly
// between the buckets starting at a and b.
func (tr *Truth) bucketsBetween(sym string, a, b, interval int64) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, x := range tr.bySym[sym] {
		if bt := x.Tick.TS - x.Tick.TS%interval; bt > a && bt < b {
			return true
		}
	}
	return false
}

// TicksAfter returns how many ticks of sym the truth saw after at.
func (tr *Truth) TicksAfter(sym string, at time.Time) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	n := 0
	for _, x := range tr.bySym[sym] {
		if x.At.After(at) {
			n++
		}
	}
	return n
}

// syncedAt returns when the last Sync began, or the zero time.
func (tr *Truth) syncedAt() time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.synced
}
