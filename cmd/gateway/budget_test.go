package main

import (
	"encoding/json"
	"fmt"
	"math"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestMemoryBudgetDefault: fanout.memory_budget wins when set; empty, it
// is a quarter of the Go memory limit when one is set, else an eighth of
// the machine's memory. Not parallel: it sets the process's memory limit.
func TestMemoryBudgetDefault(t *testing.T) {
	cfg, _, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	prev := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	mem := machineMemory()
	if mem <= 0 {
		t.Fatal("machine memory unknown on Linux")
	}
	if got, from := memoryBudget(cfg); got != mem/8 {
		t.Errorf("no limit: %d (%s), want an eighth of %d", got, from, mem)
	}
	debug.SetMemoryLimit(4 << 30)
	if got, from := memoryBudget(cfg); got != 1<<30 {
		t.Errorf("GOMEMLIMIT 4GiB: %d (%s), want 1GiB", got, from)
	}
	cfg.Fanout.MemoryBudget = 64 << 20
	if got, from := memoryBudget(cfg); got != 64<<20 || from != "fanout.memory_budget" {
		t.Errorf("64MiB set: %d (%s)", got, from)
	}
}

// TestMemoryBudgetOverSockets runs a gateway on 2,000 simulated symbols
// with a budget of 8 MiB: about 2.4 MB of it the symbols' own state, 4.8
// MB their books' (the simulator sends books) and 0.6 MB their snapshots,
// so about 0.6 MB for history, far below the 2,000 x 1,024 ticks its
// histories want. A liveLog holds the 40 hottest symbols all along; a second
// client subscribes to them with since at what the live log had seen
// 300 ms earlier. The kept bytes the gateway reports never pass the
// budget while its history is being evicted; every symbol answered
// recovered brings exactly the ticks after its since, byte for byte what
// the live log got live; a since from the start of the run is answered
// snapshot.
func TestMemoryBudgetOverSockets(t *testing.T) {
	t.Parallel()
	syms := make([]string, 2000)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%04d", i)
	}
	const budget = 8 << 20
	tg := startGateway(t, map[string]string{
		"feed.sim.symbols":       yamlList(syms...),
		"feed.sim.rate":          "5000",
		"fanout.memory_budget":   "8MiB",
		"fanout.history":         "1024",
		"fanout.shards":          "2",
		"client.max_frame_bytes": "65536",
		// The live log must get every tick: a loaded -race run may leave
		// it a second behind, which the staleness rule would conflate.
		"client.max_staleness": "1m",
		// And so must the recovering client: a loaded run may put a
		// catch-up of seconds of the hot symbols in its queue, past the
		// default conflate_at of 256 KiB, which would merge it.
		"fanout.queue_bytes": "16MiB",
		"fanout.conflate_at": "16MiB",
	})
	tg.waitReady(t)
	overBudget := watchKept(t, tg, budget)
	time.Sleep(time.Second) // every hot symbol has ticked, so the reply names its epoch
	hot := syms[:40]
	rec := newLiveLog(t, tg, hot)
	time.Sleep(2 * time.Second) // the budget fills and the held rings evict the rest
	since := rec.positions()
	time.Sleep(300 * time.Millisecond)
	c := connect(t, tg, "")
	c.Send(subscribeSince(1, hot, since))
	reply := c.Next()
	if reply.Type != "subscribed" || len(reply.Recovered)+len(reply.Snapshot) != len(hot) {
		t.Fatalf("reply %s", reply.Raw)
	}
	if len(reply.Recovered) == 0 {
		t.Fatalf("nothing recovered 300 ms back: %s", reply.Raw)
	}
	t.Logf("since 300 ms back: %d recovered, %d snapshot", len(reply.Recovered), len(reply.Snapshot))
	checkRecovered(t, c, rec, reply, since)

	old := map[string]position{"S0000": {1, since["S0000"].epoch}}
	late := connect(t, tg, "")
	late.Send(subscribeSince(2, []string{"S0000"}, old))
	if r := nextReply(t, late, 2); len(r.Snapshot) != 1 {
		t.Fatalf("a since from the start of the run: %s, want snapshot", r.Raw)
	}
	if n := overBudget(); n != "" {
		t.Fatal(n)
	}
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_memory_evicted_messages_total", "kind", "ticks"); v == 0 {
		t.Fatal("nothing evicted: the test wants a budget under pressure")
	}
}

// position is a symbol's seq and epoch, as since sends them.
type position struct {
	seq   uint64
	epoch string
}

// liveLog is a client holding syms from the start, reading ahead, and
// keeping every tick it gets by symbol and seq.
type liveLog struct {
	mu     sync.Mutex
	ticks  map[string]map[uint64]string
	last   map[string]uint64
	epochs map[string]string
	// conflated is set if the gateway conflated the log: from then on it
	// lacks ticks, and the test's premise is gone.
	conflated bool
}

func newLiveLog(t *testing.T, tg *testGateway, syms []string) *liveLog {
	t.Helper()
	c := connect(t, tg, "")
	c.ReadAhead()
	c.Send(fmt.Sprintf(`{"op":"subscribe","id":1,"symbols":%s}`, jsonList(syms)))
	reply := c.Next()
	if len(reply.Epochs) != len(syms) {
		t.Fatalf("the live log's reply names %d epochs for %d symbols: %s", len(reply.Epochs), len(syms), reply.Raw)
	}
	r := &liveLog{ticks: map[string]map[uint64]string{}, last: map[string]uint64{}, epochs: reply.Epochs}
	go func() {
		for {
			m, err := c.Read()
			if err != nil {
				return
			}
			if m.Type == "notice" && m.Code == "conflated" {
				r.mu.Lock()
				r.conflated = true
				r.mu.Unlock()
			}
			if m.Type != "tick" {
				continue
			}
			r.mu.Lock()
			if r.ticks[m.Sym] == nil {
				r.ticks[m.Sym] = map[uint64]string{}
			}
			r.ticks[m.Sym][m.Seq] = string(m.Raw)
			r.last[m.Sym] = max(r.last[m.Sym], m.Seq)
			r.mu.Unlock()
		}
	}()
	return r
}

// positions is the last seq the live log has of each symbol.
func (r *liveLog) positions() map[string]position {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]position, len(r.last))
	for sym, seq := range r.last {
		out[sym] = position{seq, r.epochs[sym]}
	}
	return out
}

// tick is the live log's copy of sym's tick seq, waiting for it.
func (r *liveLog) tick(t *testing.T, sym string, seq uint64) string {
	t.Helper()
	var raw string
	poll.Until(t, 5*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if raw = r.ticks[sym][seq]; raw == "" {
			return fmt.Errorf("the live log has no %s seq %d (conflated: %t)", sym, seq, r.conflated)
		}
		return nil
	})
	return raw
}

// subscribeSince is a subscribe op for syms with since at positions.
func subscribeSince(id int, syms []string, at map[string]position) string {
	var since []string
	for _, sym := range syms {
		if p, ok := at[sym]; ok {
			since = append(since, fmt.Sprintf(`%q:{"seq":%d,"epoch":%q}`, sym, p.seq, p.epoch))
		}
	}
	return fmt.Sprintf(`{"op":"subscribe","id":%d,"symbols":%s,"since":{%s}}`, id, jsonList(syms), strings.Join(since, ","))
}

func jsonList(syms []string) string {
	b, _ := json.Marshal(syms)
	return string(b)
}

// checkRecovered reads c until each recovered symbol has sent 20 ticks
// past its since (the quiet ones may send fewer within 3 s): they must
// follow on from since with no gap or repeat, each byte for byte the tick
// the live log got live.
func checkRecovered(t *testing.T, c *wstest.Client, rec *liveLog, reply wstest.Msg, since map[string]position) {
	t.Helper()
	next := map[string]uint64{}
	for _, sym := range reply.Recovered {
		next[sym] = since[sym].seq + 1
	}
	deadline := time.Now().Add(3 * time.Second)
	for done := 0; done < len(next) && time.Now().Before(deadline); {
		m, err := c.ReadWithin(time.Until(deadline))
		if err != nil {
			break
		}
		want, recovered := next[m.Sym]
		if m.Type != "tick" || !recovered {
			continue
		}
		if m.Seq != want {
			t.Fatalf("%s: seq %d after since %d, want %d: %s", m.Sym, m.Seq, since[m.Sym].seq, want, m.Raw)
		}
		if live := rec.tick(t, m.Sym, m.Seq); string(m.Raw) != live {
			t.Fatalf("%s seq %d came as %s, live it was %s", m.Sym, m.Seq, m.Raw, live)
		}
		next[m.Sym]++
		if m.Seq == since[m.Sym].seq+20 {
			done++
		}
	}
}

// nextReply reads c up to the reply to request id.
func nextReply(t *testing.T, c *wstest.Client, id int64) wstest.Msg {
	t.Helper()
	for {
		if m := c.Next(); m.ID != nil && *m.ID == id {
			return m
		}
	}
}

// watchKept polls the gateway's kept bytes every 50 ms until the test
// ends; the function it returns says what passed the budget, if
// anything did.
func watchKept(t *testing.T, tg *testGateway, budget float64) func() string {
	t.Helper()
	var mu sync.Mutex
	var over string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			kept := keptBytes(t, tg)
			if kept > budget {
				mu.Lock()
				over = fmt.Sprintf("kept %v bytes, over the budget of %v", kept, budget)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return over
	}
}

// keptBytes is the sum of tickgate_memory_kept_bytes over its kinds, in
// one gather.
func keptBytes(t *testing.T, tg *testGateway) (sum float64) {
	t.Helper()
	mfs, err := tg.gw.reg.Gather()
	if err != nil {
		t.Errorf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "tickgate_memory_kept_bytes" {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}
