package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

func TestNewRejectsBadSymbols(t *testing.T) {
	t.Parallel()
	for _, syms := range [][]string{{"AAPL", "aapl"}, {"AAPL", "*"}, {"AAPL", ""}, {"AAPL", "MSFT", "AAPL"}} {
		if _, err := New(Config{}, feed.Listed(syms...), prometheus.NewRegistry()); err == nil {
			t.Errorf("New(%q) = nil error", syms)
		}
	}
}

func TestSymbolsKnownLast(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 3}, "MSFT", "AAPL", "NVDA")
	syms := e.Symbols()
	if want := []string{"MSFT", "AAPL", "NVDA"}; !slices.Equal(syms, want) {
		t.Fatalf("Symbols() = %q, want %q", syms, want)
	}
	syms[0] = "XXXX" // a copy: the caller may keep or change it
	if e.Symbols()[0] != "MSFT" {
		t.Fatal("Symbols() shares the engine's slice")
	}
	if !e.Known("AAPL") || e.Known("GOOG") || e.Known("") {
		t.Fatal("Known is wrong")
	}
	if _, ok := e.Last("AAPL"); ok {
		t.Fatal("Last before any tick reports ok")
	}
	if _, ok := e.Last("GOOG"); ok {
		t.Fatal("Last of an unknown symbol reports ok")
	}
	e.Publish(testTick("AAPL", 1))
	e.Publish(testTick("AAPL", 2))
	waitDelivered(t, e, 2)
	if got, ok := e.Last("AAPL"); !ok || got != testTick("AAPL", 2) {
		t.Fatalf("Last(AAPL) = %+v, %v; want seq 2", got, ok)
	}
}

func TestSubscribeSnapshotThenLive(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 2}, "AAPL", "MSFT")
	for seq := uint64(1); seq <= 5; seq++ {
		e.Publish(testTick("AAPL", seq))
	}
	checkFor(t, 5*time.Second, func() error {
		if last, _ := e.Last("AAPL"); last.Seq != 5 {
			return fmt.Errorf("last seq %d, want 5", last.Seq)
		}
		return nil
	})
	c := newTestClient(e)
	added, err := subscribe(e, c, []string{"AAPL"})
	if err != nil || !slices.Equal(added, []string{"AAPL"}) {
		t.Fatalf("Subscribe = %q, %v", added, err)
	}
	for seq := uint64(6); seq <= 10; seq++ {
		e.Publish(testTick("AAPL", seq))
	}
	waitDelivered(t, e, 10)

	msgs := drainAll(c)
	if len(msgs) != 6 {
		t.Fatalf("got %d messages, want snapshot + 5 live", len(msgs))
	}
	if first := checkStream(t, msgs, "AAPL", 10); first != 5 {
		t.Fatalf("first seq %d, want snapshot of seq 5", first)
	}
	if msgs[0].TS != 0 {
		t.Fatalf("snapshot TS = %d, want 0", msgs[0].TS)
	}
	if snap := decodeAll(t, msgs[:1])[0]; snap != testTick("AAPL", 5) {
		t.Fatalf("snapshot = %+v, want tick 5 as published", snap)
	}
}

func TestSubscribeBeforeFirstTickHasNoSnapshot(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{}, "AAPL")
	c := newTestClient(e)
	if _, err := subscribe(e, c, []string{"AAPL"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("%d messages queued before any tick", n)
	}
	e.Publish(testTick("AAPL", 1))
	waitDelivered(t, e, 1)
	if first := checkStream(t, drainAll(c), "AAPL", 1); first != 1 {
		t.Fatalf("first seq %d, want live seq 1", first)
	}
}

// TestSubscribeMidStream subscribes clients while ticks flow; each must see
// its snapshot and then every later tick, with no gap and no repeat.
func TestSubscribeMidStream(t *testing.T) {
	t.Parallel()
	const n, every = 5000, 500
	e, _ := startEngine(t, Config{Shards: 4, QueueBytes: 16 << 20}, "AAPL", "MSFT")
	points := make(chan struct{})
	var clients []*collector
	var wg sync.WaitGroup
	wg.Go(func() {
		for range points {
			c := newTestClient(e)
			clients = append(clients, collect(t, c))
			if _, err := subscribe(e, c, []string{"AAPL", "MSFT"}); err != nil {
				t.Error(err)
			}
		}
	})
	for seq := uint64(1); seq <= n; seq++ {
		e.Publish(testTick("AAPL", seq))
		e.Publish(testTick("MSFT", seq))
		if seq%every == 0 && seq < n {
			points <- struct{}{} // the subscriber runs while we go on publishing
		}
	}
	close(points)
	wg.Wait()
	waitDelivered(t, e, 2*n)
	if len(clients) != n/every-1 {
		t.Fatalf("%d clients, want %d", len(clients), n/every-1)
	}
	for _, col := range clients {
		var aapl, msft []Message
		for _, m := range col.stop() {
			if bytes.Contains(m.Data, []byte(`"sym":"AAPL"`)) {
				aapl = append(aapl, m)
			} else {
				msft = append(msft, m)
			}
		}
		checkStream(t, aapl, "AAPL", n)
		checkStream(t, msft, "MSFT", n)
		if col.c.Cause() != nil {
			t.Fatalf("client closed: %v", col.c.Cause())
		}
	}
}

// collector drains a client from its own goroutine, as a session writer
// does: wait for Ready, then Drain in frames until the queue is empty.
type collector struct {
	c    *testClient
	quit chan struct{}
	done chan struct{}
	msgs []Message
}

func collect(tb testing.TB, c *testClient) *collector {
	col := &collector{c: c, quit: make(chan struct{}), done: make(chan struct{})}
	go col.run()
	tb.Cleanup(func() { col.stop() })
	return col
}

func (col *collector) run() {
	defer close(col.done)
	for {
		select {
		case <-col.c.Ready():
		case <-col.quit:
			col.msgs = append(col.msgs, drainAll(col.c)...)
			return
		}
		for {
			n := len(col.msgs)
			if col.msgs = col.c.Drain(col.msgs, 4<<10); len(col.msgs) == n {
				break
			}
		}
	}
}

// stop ends the collector and returns everything it drained.
func (col *collector) stop() []Message {
	select {
	case <-col.quit:
	default:
		close(col.quit)
	}
	<-col.done
	return col.msgs
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 2}, "AAPL", "MSFT")
	c := newTestClient(e)
	if _, err := subscribe(e, c, []string{"AAPL", "MSFT"}); err != nil {
		t.Fatal(err)
	}
	e.Publish(testTick("AAPL", 1))
	e.Publish(testTick("MSFT", 1))
	waitDelivered(t, e, 2)

	if got := e.Unsubscribe(c.Client, Ticks, []string{"AAPL", "NVDA", "AAPL"}); !slices.Equal(got, []string{"AAPL"}) {
		t.Fatalf("Unsubscribe = %q, want [AAPL]", got)
	}
	if got := e.Subscriptions(); got != 1 {
		t.Fatalf("Subscriptions() = %d, want 1", got)
	}
	e.Publish(testTick("AAPL", 2))
	e.Publish(testTick("MSFT", 2))
	waitDelivered(t, e, 4)

	var got []string
	for _, tk := range decodeAll(t, drainAll(c)) {
		got = append(got, fmt.Sprintf("%s/%d", tk.Symbol, tk.Seq))
	}
	slices.Sort(got) // the two symbols may sit on different shards
	if want := []string{"AAPL/1", "MSFT/1", "MSFT/2"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
}

func TestUnsubscribeAll(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{Shards: 2}, "AAPL", "MSFT", "NVDA")
	a, b := newTestClient(e), newTestClient(e)
	mustSubscribe(t, e, a, "AAPL", "MSFT", "NVDA")
	mustSubscribe(t, e, b, "MSFT")
	if got := e.Subscriptions(); got != 4 {
		t.Fatalf("Subscriptions() = %d, want 4", got)
	}
	e.UnsubscribeAll(a.Client)
	if got := e.Subscriptions(); got != 1 {
		t.Fatalf("after UnsubscribeAll: Subscriptions() = %d, want 1", got)
	}
	if got := e.SymbolsOf(a.Client, Ticks); len(got) != 0 {
		t.Fatalf("SymbolsOf after UnsubscribeAll = %q", got)
	}
	e.UnsubscribeAll(a.Client) // a second call is a no-op
	for _, sym := range []string{"AAPL", "MSFT", "NVDA"} {
		e.Publish(testTick(sym, 1))
	}
	waitDelivered(t, e, 3)
	if n, _ := a.Len(); n != 0 {
		t.Fatalf("unsubscribed client got %d messages", n)
	}
	checkStream(t, drainAll(b), "MSFT", 1)
	mustSubscribe(t, e, a, "NVDA") // a client may subscribe again
	if got := e.Subscriptions(); got != 2 {
		t.Fatalf("after resubscribe: Subscriptions() = %d, want 2", got)
	}
}

func mustSubscribe(tb testing.TB, e *Engine, c *testClient, syms ...string) {
	tb.Helper()
	if _, err := subscribe(e, c, syms); err != nil {
		tb.Fatal(err)
	}
}

func TestSymbolsOfEngineOrder(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{}, "MSFT", "AAPL", "NVDA", "GOOG")
	c := newTestClient(e)
	mustSubscribe(t, e, c, "GOOG", "MSFT")
	mustSubscribe(t, e, c, "NVDA")
	if got, want := e.SymbolsOf(c.Client, Ticks), []string{"MSFT", "NVDA", "GOOG"}; !slices.Equal(got, want) {
		t.Fatalf("SymbolsOf = %q, want %q (engine order)", got, want)
	}
}

func TestSubscribeUnknownChangesNothing(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{}, "AAPL", "MSFT")
	e.Publish(testTick("AAPL", 1))
	waitDelivered(t, e, 1)
	c := newTestClient(e)
	added, err := subscribe(e, c, []string{"AAPL", "NOPE", "MSFT"})
	if !errors.Is(err, ErrUnknownSymbol) {
		t.Fatalf("Subscribe err = %v, want ErrUnknownSymbol", err)
	}
	if added != nil {
		t.Fatalf("Subscribe added %q despite the error", added)
	}
	if got := e.SymbolsOf(c.Client, Ticks); len(got) != 0 {
		t.Fatalf("SymbolsOf = %q, want none", got)
	}
	if got := e.Subscriptions(); got != 0 {
		t.Fatalf("Subscriptions() = %d, want 0", got)
	}
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("%d snapshot(s) queued by a failed Subscribe", n)
	}
	e.Publish(testTick("AAPL", 2))
	waitDelivered(t, e, 2)
	if n, _ := c.Len(); n != 0 {
		t.Fatalf("failed Subscribe still delivers: %d messages", n)
	}
}

func TestResubscribeNoSecondSnapshot(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{}, "AAPL", "MSFT")
	e.Publish(testTick("AAPL", 1))
	waitDelivered(t, e, 1)
	c := newTestClient(e)
	if added, _ := subscribe(e, c, []string{"AAPL", "AAPL"}); !slices.Equal(added, []string{"AAPL"}) {
		t.Fatalf("Subscribe(AAPL, AAPL) added %q, want [AAPL]", added)
	}
	if added, _ := subscribe(e, c, []string{"AAPL", "MSFT"}); !slices.Equal(added, []string{"MSFT"}) {
		t.Fatalf("Subscribe(AAPL, MSFT) added %q, want [MSFT]", added)
	}
	if got := e.Subscriptions(); got != 2 {
		t.Fatalf("Subscriptions() = %d, want 2", got)
	}
	e.Publish(testTick("AAPL", 2))
	waitDelivered(t, e, 2)
	msgs := drainAll(c)
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want one snapshot and one live", len(msgs))
	}
	checkStream(t, msgs, "AAPL", 2)
}

func TestStaleAndRefusedTicksDropped(t *testing.T) {
	t.Parallel()
	e, reg := startEngine(t, Config{Pattern: regexp.MustCompile(`^[A-M]`)}, "AAPL")
	c := newTestClient(e)
	mustSubscribe(t, e, c, "AAPL")
	for _, seq := range []uint64{1, 2, 3, 2, 3, 4} {
		e.Publish(testTick("AAPL", seq))
	}
	e.Publish(testTick("ZZZZ", 1))
	waitDelivered(t, e, 6) // the refused tick never reaches a shard
	if first := checkStream(t, drainAll(c), "AAPL", 4); first != 1 {
		t.Fatalf("first seq %d, want 1", first)
	}
	if last, _ := e.Last("AAPL"); last.Seq != 4 {
		t.Fatalf("Last seq %d, want 4", last.Seq)
	}
	checkDropped(t, reg, 2, 0, 1)
	if e.Known("ZZZZ") {
		t.Fatal("ZZZZ, outside the pattern, was listed")
	}
}

func TestSlowConsumerClosedOthersUnharmed(t *testing.T) {
	t.Parallel()
	const n, step = 200, 10
	e, _ := startEngine(t, Config{Shards: 1, QueueBytes: 4096, ConflateAt: 4096}, "AAPL")
	slow, fast := newTestClient(e), newTestClient(e)
	mustSubscribe(t, e, slow, "AAPL")
	mustSubscribe(t, e, fast, "AAPL")
	// Publish in steps the fast client drains between, so only the slow
	// one can pass its 4 KiB.
	var got []Message
	for seq := uint64(1); seq <= n; seq++ {
		e.Publish(testTick("AAPL", seq))
		if seq%step == 0 {
			waitDelivered(t, e, int(seq))
			got = fast.Drain(got, math.MaxInt)
		}
	}
	if first := checkStream(t, got, "AAPL", n); first != 1 || fast.Cause() != nil {
		t.Fatalf("fast client: first seq %d, cause %v", first, fast.Cause())
	}
	select {
	case <-slow.Done():
	default:
		t.Fatal("slow client not closed")
	}
	if !errors.Is(slow.Cause(), ErrSlowConsumer) {
		t.Fatalf("slow client cause = %v, want ErrSlowConsumer", slow.Cause())
	}
	// The slow consumer's queue is dropped at once: it will never be
	// written. It was closed by the first tick that did not fit in 4 KiB.
	if pending, bytes := slow.Len(); pending != 0 || bytes != 0 {
		t.Fatalf("slow client still holds %d messages (%d bytes)", pending, bytes)
	}
	size := func(seq uint64) int { tk := testTick("AAPL", seq); return len(tk.AppendJSON(nil)) }
	fitted := 0 // ticks queued for the slow client before the overflow
	for seq, used := uint64(1), 0; used+size(seq) <= 4096; seq++ {
		used += size(seq)
		fitted++
	}
	checkCounter(t, e.metrics.slowConsumers, 1)
	checkCounter(t, e.metrics.enqueued, float64(n+fitted))
}

func TestSnapshotOverflowCountsSlowConsumer(t *testing.T) {
	t.Parallel()
	e, _ := startEngine(t, Config{QueueBytes: 4096}, "AAPL")
	e.Publish(testTick("AAPL", 1))
	waitDelivered(t, e, 1)
	c := newTestClient(e)
	c.Enqueue(Message{Data: make([]byte, 4096-10)}) // a reply fills the queue
	mustSubscribe(t, e, c, "AAPL")
	if !errors.Is(c.Cause(), ErrSlowConsumer) {
		t.Fatalf("cause = %v, want ErrSlowConsumer", c.Cause())
	}
	checkCounter(t, e.metrics.slowConsumers, 1)
	e.Publish(testTick("AAPL", 2)) // a closed client is not counted again
	waitDelivered(t, e, 2)
	checkCounter(t, e.metrics.slowConsumers, 1)
}

func TestPublishBeforeRunWaitsInInbox(t *testing.T) {
	t.Parallel()
	e, reg := newEngine(t, Config{Shards: 1}, "AAPL")
	c := newTestClient(e)
	mustSubscribe(t, e, c, "AAPL")
	for seq := uint64(1); seq <= 3; seq++ {
		e.Publish(testTick("AAPL", seq))
	}
	checkGauge(t, reg, "tickgate_shard_inbox_ticks", 3)
	runEngine(t, e)
	waitDelivered(t, e, 3)
	checkGauge(t, reg, "tickgate_shard_inbox_ticks", 0)
	checkStream(t, drainAll(c), "AAPL", 3)
}

func TestPublishAfterStopDoesNotBlock(t *testing.T) {
	t.Parallel()
	e, _ := newEngine(t, Config{Shards: 1, InboxTicks: 1}, "AAPL")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Run(ctx); err != nil {
		t.Fatalf("Run = %v", err)
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		for seq := uint64(1); seq <= 3; seq++ { // the inbox holds one
			e.Publish(testTick("AAPL", seq))
		}
	}()
	select {
	case <-published:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked for 5s on a stopped engine whose inbox is full")
	}
}

// TestSyncDeliversWhatCameBefore: once Sync returns, every tick published
// before it is in the client's queue, on every shard, without waiting on
// anything else; again for a second round, and at once on a stopped
// engine.
func TestSyncDeliversWhatCameBefore(t *testing.T) {
	t.Parallel()
	syms := []string{"AAPL", "MSFT", "NVDA", "TSLA", "AMZN", "GOOG"}
	e, _ := newEngine(t, Config{Shards: 3, QueueBytes: 1 << 22, ConflateAt: 1 << 22}, syms...)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.Run(ctx); close(stopped) }()
	c := newTestClient(e)
	mustSubscribe(t, e, c, syms...)
	for round := range uint64(2) {
		for seq := round*200 + 1; seq <= (round+1)*200; seq++ {
			for _, sym := range syms {
				e.Publish(testTick(sym, seq))
			}
		}
		e.Sync()
		got := map[string]uint64{}
		for _, m := range decodeAll(t, drainAll(c)) {
			got[m.Symbol] = m.Seq
		}
		for _, sym := range syms {
			if got[sym] != (round+1)*200 {
				t.Fatalf("round %d: after Sync %s reached seq %d in the queue, want %d", round, sym, got[sym], (round+1)*200)
			}
		}
	}
	cancel()
	<-stopped
	done := make(chan struct{})
	go func() { e.Sync(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Sync on a stopped engine blocked for 5s")
	}
}
