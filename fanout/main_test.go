package fanout

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/poll"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// baseTS is the feed timestamp of seq 0; tick seq n carries baseTS+n, so a
// live message's TS names its tick.
const baseTS = int64(1732470000000000000)

// testTick is a valid tick of sym whose fields all follow from seq.
func testTick(sym string, seq uint64) feed.Tick {
	px := 100 + float64(seq%100)/100
	return feed.Tick{Symbol: sym, Seq: seq, Price: px, Size: 100, Bid: px - 0.01, Ask: px + 0.01, TS: baseTS + int64(seq)}
}

// checkFor retries f until it returns nil or timeout passes (poll.Until).
var checkFor = poll.Until

// newEngine builds an engine on a fresh registry without running it.
func newEngine(tb testing.TB, cfg Config, syms ...string) (*Engine, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	e, err := New(cfg, feed.Listed(syms...), reg)
	if err != nil {
		tb.Fatal(err)
	}
	return e, reg
}

// runEngine runs e until the test ends, then stops it and waits for Run.
func runEngine(tb testing.TB, e *Engine) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
}

// startEngine is newEngine followed by runEngine.
func startEngine(tb testing.TB, cfg Config, syms ...string) (*Engine, *prometheus.Registry) {
	tb.Helper()
	e, reg := newEngine(tb, cfg, syms...)
	runEngine(tb, e)
	return e, reg
}

// waitDelivered waits until the shards have delivered n ticks in all. A
// shard counts a batch after its last enqueue, so every message of those
// ticks is queued once this returns.
func waitDelivered(tb testing.TB, e *Engine, n int) {
	tb.Helper()
	checkFor(tb, 5*time.Second, func() error {
		if got := testutil.ToFloat64(e.metrics.feedTicks); got != float64(n) {
			return fmt.Errorf("shards delivered %v ticks, want %d", got, n)
		}
		return nil
	})
}

// drainAll takes everything c has pending.
func drainAll(c *testClient) []Message {
	msgs := c.Drain(nil, math.MaxInt)
	c.Drain(nil, math.MaxInt) // finds the queue empty: the writer is done
	return msgs
}

// decodeAll decodes every message as a tick.
func decodeAll(tb testing.TB, msgs []Message) []feed.Tick {
	tb.Helper()
	ticks := make([]feed.Tick, len(msgs))
	for i, m := range msgs {
		t, err := feed.DecodeJSON(m.Data)
		if err != nil {
			tb.Fatalf("message %d %q: %v", i, m.Data, err)
		}
		ticks[i] = t
	}
	return ticks
}

// checkStream checks that msgs are sym's ticks from some seq through last,
// contiguous, with at most a snapshot (TS 0) first and live ticks (TS equal
// to the tick's) after it. It returns the first seq.
func checkStream(tb testing.TB, msgs []Message, sym string, last uint64) uint64 {
	tb.Helper()
	if len(msgs) == 0 {
		tb.Fatalf("%s: no messages, want through seq %d", sym, last)
	}
	ticks := decodeAll(tb, msgs)
	for i, t := range ticks {
		if t.Symbol != sym {
			tb.Fatalf("message %d: symbol %q, want %q", i, t.Symbol, sym)
		}
		if i > 0 && t.Seq != ticks[i-1].Seq+1 {
			tb.Fatalf("message %d: seq %d after %d", i, t.Seq, ticks[i-1].Seq)
		}
		snapshot := i == 0 && msgs[i].TS == 0
		if !snapshot && msgs[i].TS != t.TS {
			tb.Fatalf("message %d (seq %d): TS %d, want tick TS %d", i, t.Seq, msgs[i].TS, t.TS)
		}
	}
	if got := ticks[len(ticks)-1].Seq; got != last {
		tb.Fatalf("%s: last seq %d, want %d", sym, got, last)
	}
	return ticks[0].Seq
}

// legacySince is since in the legacy form, seqs without an epoch.
func legacySince(seqs map[string]uint64) map[string]Position {
	out := make(map[string]Position, len(seqs))
	for sym, seq := range seqs {
		out[sym] = Position{Seq: seq}
	}
	return out
}
