package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/ssetest"
	"github.com/tickgate/tickgate/internal/ticktest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// universeGateway is a gateway on the NATS server at url that lists no
// symbol from the start: it learns its universe from the feed. The tests'
// publisher sends no heartbeats, so there is no stall check.
func universeGateway(url string) map[string]string {
	cfg := natsGateway(url)
	cfg["feed.nats.symbols"] = "[]"
	cfg["feed.nats.stall_after"] = "0s"
	return cfg
}

// startFleet starts n gateways of cfg and waits until each has its
// subscription confirmed, so none misses what is published next.
func startFleet(t *testing.T, n int, cfg map[string]string) []*testGateway {
	t.Helper()
	var gws []*testGateway
	for range n {
		tg := startGateway(t, cfg)
		tg.waitReady(t)
		gws = append(gws, tg)
	}
	return gws
}

// testPublisher is a publisher of its own on the NATS server at url, as
// "gateway publish" would be, for a test to list, tick and delist by hand.
func testPublisher(t *testing.T, url string) *feednats.Publisher {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return feednats.NewPublisher(nc, "ticks")
}

// flush waits until the server has everything pub published.
func flush(t *testing.T, pub *feednats.Publisher) {
	t.Helper()
	if err := pub.Flush(30 * time.Second); err != nil || pub.Errors() != 0 {
		t.Fatalf("publish: %v (%d errors)", err, pub.Errors())
	}
}

// waitSymbols waits until every gateway's /symbols is want, in order.
func waitSymbols(t *testing.T, want []string, gws ...*testGateway) {
	t.Helper()
	for i, tg := range gws {
		poll.Until(t, 10*time.Second, func() error {
			if got := getSymbols(t, tg); !slices.Equal(got, want) {
				return fmt.Errorf("gateway %d: /symbols = %q, want %q", i, got, want)
			}
			return nil
		})
	}
}

// metric is the value of a gateway's series name{labels...}.
func metric(t *testing.T, tg *testGateway, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricValue(t, tg.gw.reg, name, labels...)
	if !ok {
		t.Fatalf("no series %s%q", name, labels)
	}
	return v
}

// nextNotice reads c's next message and fails unless it is the retired
// notice of sym (on stream, "" for ticks) for reason.
func nextRetired(c *wstest.Client, sym, stream, reason string) {
	c.TB.Helper()
	m := c.Next()
	if m.Type != "notice" || m.Code != "retired" || m.Sym != sym || m.Stream != stream || m.Reason != reason {
		c.TB.Fatalf("got %s, want the retired notice of %s (stream %q, reason %s)", m.Raw, sym, stream, reason)
	}
}

// TestFleetUniverse runs two gateways that list nothing at start under a
// publisher that lists, ticks and delists: both learn the same universe
// in the same order, with the previous closes the listings carry; a
// delisting retires the symbol on both, its subscribers get the retired
// notice on every stream they hold it on, and a bystander's ticks go on
// untouched; a later tick in a new epoch lists the symbol again.
func TestFleetUniverse(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.Options(-1))
	gws := startFleet(t, 2, universeGateway(ns.ClientURL()))
	pub := testPublisher(t, ns.ClientURL())
	pub.List(feed.Listing{Symbol: "AAA", PrevClose: 10.5})
	pub.List(feed.Listing{Symbol: "BBB"})
	pub.Publish(ticktest.Tick("AAA", 1))
	pub.Publish(ticktest.Tick("IPO", 1)) // listed by its first tick
	flush(t, pub)
	waitSymbols(t, []string{"AAA", "BBB", "IPO"}, gws...)
	for _, tg := range gws {
		detail := getDetail(t, tg)
		if detail[0]["prev_close"] != 10.5 || len(detail[1]) != 1 || len(detail[2]) != 1 {
			t.Fatalf("/symbols?detail=1 = %v, want AAA's previous close alone", detail)
		}
	}

	bystander := connect(t, gws[0], "?symbols=AAA")
	subscribed(bystander, "AAA")
	ticks := connect(t, gws[1], "?symbols=IPO")
	subscribed(ticks, "IPO")
	bars := connect(t, gws[0], "")
	bars.Send(`{"op":"subscribe","id":1,"stream":"bars.1s","symbols":["IPO"]}`)
	subscribed(bars, "IPO")
	pub.List(feed.Listing{Symbol: "IPO", Delisted: true})
	pub.Publish(ticktest.Tick("AAA", 2))
	flush(t, pub)

	if m := ticks.Next(); m.Type != "tick" || m.Sym != "IPO" || m.Seq != 1 {
		t.Fatalf("IPO subscriber got %s, want its snapshot", m.Raw)
	}
	nextRetired(ticks, "IPO", "", "delisted")
	if m := bars.Next(); m.Type == "bar" { // the bar of IPO's tick, if the feed clock closed it already
		nextRetired(bars, "IPO", "bars.1s", "delisted")
	} else if m.Code != "retired" || m.Stream != "bars.1s" || m.Reason != "delisted" {
		t.Fatalf("bars subscriber got %s, want IPO's retired notice", m.Raw)
	}
	seqs := seqCheck{}
	for range 2 {
		seqs.tick(t, bystander.Next())
	}
	waitSymbols(t, []string{"AAA", "BBB"}, gws...)
	for _, tg := range gws {
		if n := metric(t, tg, "tickgate_universe_retired_total", "reason", "delisted"); n != 1 {
			t.Errorf("retired{delisted} = %v, want 1", n)
		}
		if n := metric(t, tg, "tickgate_universe_symbols"); n != 2 {
			t.Errorf("tickgate_universe_symbols = %v, want 2", n)
		}
	}
	ticks.Send(`{"op":"subscribe","id":2,"symbols":["IPO"]}`)
	if m := ticks.Next(); m.Type != "error" || m.Code != "unknown_symbol" {
		t.Fatalf("subscribe to a retired symbol: %s, want unknown_symbol", m.Raw)
	}

	again := ticktest.Tick("IPO", 1)
	again.Epoch = "relisted"
	pub.Publish(again)
	flush(t, pub)
	waitSymbols(t, []string{"AAA", "BBB", "IPO"}, gws...)
	// The table lists IPO as its tick comes off NATS, a moment before its
	// shard takes the tick and its epoch: until then a subscribe is
	// answered without one, so ask again until it has it.
	id := int64(2)
	poll.Until(t, 10*time.Second, func() error {
		id += 2
		ticks.Send(fmt.Sprintf(`{"op":"subscribe","id":%d,"symbols":["IPO"]}`, id))
		m := nextReply(t, ticks, id)
		if m.Type == "subscribed" && m.Epochs["IPO"] == "relisted" {
			return nil
		}
		ticks.Send(fmt.Sprintf(`{"op":"unsubscribe","id":%d,"symbols":["IPO"]}`, id+1))
		nextReply(t, ticks, id+1)
		return fmt.Errorf("subscribe to IPO listed again: %s, want subscribed in epoch relisted", m.Raw)
	})
}

// TestFleetUniverseIdle: a symbol silent for universe.retire_after is
// retired on every gateway, its subscriber told why, while one that ticks
// stays listed (were the machine to stall it past the limit, its next tick
// would list it again).
func TestFleetUniverseIdle(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.Options(-1))
	cfg := universeGateway(ns.ClientURL())
	cfg["universe.retire_after"] = "1s"
	gws := startFleet(t, 2, cfg)
	pub := testPublisher(t, ns.ClientURL())
	pub.Publish(ticktest.Tick("QUIET", 1))
	pub.Publish(ticktest.Tick("BUSY", 1))
	flush(t, pub)
	waitSymbols(t, []string{"QUIET", "BUSY"}, gws...)
	c := connect(t, gws[1], "?symbols=QUIET")
	subscribed(c, "QUIET")
	if m := c.Next(); m.Type != "tick" || m.Sym != "QUIET" {
		t.Fatalf("got %s, want QUIET's snapshot", m.Raw)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() { // BUSY ticks every 20ms while QUIET idles out
		defer close(done)
		for seq := uint64(2); ; seq++ {
			pub.Publish(ticktest.Tick("BUSY", seq))
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	nextRetired(c, "QUIET", "", "idle")
	waitSymbols(t, []string{"BUSY"}, gws...)
	close(stop)
	<-done
	for _, tg := range gws {
		if n := metric(t, tg, "tickgate_universe_retired_total", "reason", "idle"); n < 1 {
			t.Errorf("retired{idle} = %v, want QUIET's at least", n)
		}
	}
}

// TestHostileUpstreamCapped floods two gateways with ticks of a million
// distinct symbols: each lists universe.max_symbols at most, the same
// ones, counts every other tick as dropped for max_symbols, keeps what it
// keeps within fanout.memory_budget, and a bystander on the symbol listed
// before the flood gets every one of its ticks. The million takes about
// 12 s on this box without the race detector; under it (make test), or
// with -short, each tick costs ten times as much and the flood is
// 100,000 (about 13 s).
func TestHostileUpstreamCapped(t *testing.T) {
	t.Parallel()
	const maxSymbols, chunk = 1000, 5000
	flood := 1_000_000
	if testing.Short() || raceDetector {
		flood = 100_000
	}
	ns := natstest.Run(t, natstest.Options(-1))
	cfg := universeGateway(ns.ClientURL())
	cfg["feed.nats.symbols"] = `["LEGIT"]`
	cfg["universe.max_symbols"] = fmt.Sprint(maxSymbols)
	cfg["fanout.memory_budget"] = "4MiB" // the 1,000 symbols' own state and snapshots take 1.2 MB of it
	gws := startFleet(t, 2, cfg)
	var bystanders []*wstest.Client
	for _, tg := range gws {
		c := connect(t, tg, "?symbols=LEGIT")
		subscribed(c, "LEGIT")
		c.ReadAhead()
		bystanders = append(bystanders, c)
	}
	pub := testPublisher(t, ns.ClientURL())
	legit := uint64(0)
	start := time.Now()
	defer func() { t.Logf("flood of %d symbols taken in %v", flood, time.Since(start)) }()
	for sent := 0; sent < flood; {
		for range chunk {
			pub.Publish(ticktest.Tick(fmt.Sprintf("H%07d", sent), 1))
			sent++
		}
		legit++
		pub.Publish(ticktest.Tick("LEGIT", legit))
		flush(t, pub)
		// Pace the flood by the gateways, so that what is counted is the
		// engine's refusal, not a NATS slow consumer's drop.
		for _, tg := range gws {
			poll.Until(t, 60*time.Second, func() error {
				taken := metric(t, tg, "tickgate_feed_ticks_total") + metric(t, tg, "tickgate_feed_dropped_ticks_total", "reason", "max_symbols")
				if want := float64(sent) + float64(legit); taken < want {
					return fmt.Errorf("gateway took %v ticks of %v", taken, want)
				}
				return nil
			})
		}
	}
	want := getSymbols(t, gws[0])
	if len(want) != maxSymbols || want[0] != "LEGIT" {
		t.Fatalf("gateway lists %d symbols, first %q; want %d, LEGIT first", len(want), want[0], maxSymbols)
	}
	waitSymbols(t, want, gws[1])
	for i, tg := range gws {
		if n := metric(t, tg, "tickgate_feed_dropped_ticks_total", "reason", "max_symbols"); n != float64(flood-(maxSymbols-1)) {
			t.Errorf("gateway %d: dropped{max_symbols} = %v, want %d", i, n, flood-(maxSymbols-1))
		}
		if n := metric(t, tg, "tickgate_feed_nats_dropped_total"); n != 0 {
			t.Errorf("gateway %d: NATS dropped %v messages; the test paces the flood to avoid it", i, n)
		}
		if kept, budget := metric(t, tg, "tickgate_memory_kept_bytes"), metric(t, tg, "tickgate_memory_budget_bytes"); kept == 0 || kept > budget {
			t.Errorf("gateway %d keeps %v bytes for its %d symbols, want some, within its budget of %v", i, kept, maxSymbols, budget)
		}
		seqs := seqCheck{}
		for seqs["LEGIT"] < legit {
			seqs.tick(t, bystanders[i].Next())
		}
	}
}

// TestJetStreamUniverseLateGateway: "gateway publish" lists its universe,
// previous closes included, into the stream before its first tick, so a
// gateway that starts later, listing nothing, learns the whole universe
// from the stream's replay, quiet symbols too, as the one that ran all
// along did.
func TestJetStreamUniverseLateGateway(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	cfg := universeGateway(ns.ClientURL())
	cfg["feed.nats.stream"] = "TICKS"
	cfg["feed.sim.symbols"] = `["AAPL", "MSFT", "QUIET"]`
	cfg["feed.sim.skew"] = "20"   // QUIET all but never ticks
	early := startGateway(t, cfg) // ready once the publisher made the stream
	startPublish(t, cfg)
	want := []string{"AAPL", "MSFT", "QUIET"}
	waitSymbols(t, want, early)
	late := startGateway(t, cfg)
	waitSymbols(t, want, late)
	for _, tg := range []*testGateway{early, late} {
		checkPrevCloses(t, tg)
	}
}

// TestSimChurnRetires runs the simulator with churn: a delisted symbol's
// subscriber gets the retired notice, and the new listing takes its place
// in /symbols, with a previous close.
func TestSimChurnRetires(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, churnConfig)
	syms := listed(t, tg)
	c := connect(t, tg, "?symbols="+syms)
	subscribed(c, syms)
	m := delistedAfterTicks(t, c.Next, syms)
	poll.Until(t, 10*time.Second, func() error {
		syms := getSymbols(t, tg)
		if len(syms) != 4 || slices.Contains(syms, m.Sym) {
			return fmt.Errorf("/symbols = %q, want 4 without %s", syms, m.Sym)
		}
		return nil
	})
	checkPrevCloses(t, tg)
}

// TestSSERetired follows a delisting on an event stream: the retired notice
// comes as an event, the stream goes on with the other symbol, and a
// reconnect that still names the retired one is refused as an unknown
// symbol (docs/protocol.md, "The symbol universe").
func TestSSERetired(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, churnConfig)
	syms := listed(t, tg)
	c := ssetest.Dial(t, tg.url+"/sse?symbols="+syms, ssetest.Options{})
	if m := c.Next(); m.Type != "subscribed" {
		t.Fatalf("first message %s, want subscribed", m.Raw)
	}
	m := delistedAfterTicks(t, c.Next, syms)
	for {
		n := c.Next()
		if n.Sym == m.Sym {
			t.Fatalf("got %s after %s was retired", n.Raw, m.Sym)
		}
		if n.Type == "tick" || n.Type == "notice" && n.Code == "retired" {
			break // the stream goes on with the others (or retires the next, in its turn)
		}
	}
	if code, body := get(tg.url + "/sse?symbols=" + syms); code != 400 || !strings.Contains(body, "unknown_symbol") {
		t.Fatalf("a reconnect naming %s: %d %s, want 400 unknown_symbol", m.Sym, code, body)
	}
}

// delistedAfterTicks reads past ticks to the next message, which must be the
// retired notice of one of syms (comma-separated), delisted.
func delistedAfterTicks(t *testing.T, next func() wstest.Msg, syms string) wstest.Msg {
	t.Helper()
	var m wstest.Msg
	for m = next(); m.Type == "tick"; m = next() {
	}
	if m.Type != "notice" || m.Code != "retired" || m.Reason != "delisted" || !slices.Contains(strings.Split(syms, ","), m.Sym) {
		t.Fatalf("got %s, want one of %s retired as delisted", m.Raw, syms)
	}
	return m
}

// churnConfig is a simulated market of four that delists one symbol and
// lists another in its place every second.
var churnConfig = map[string]string{"feed.sim.symbols": "[AAA, BBB, CCC, DDD]", "feed.sim.relist_every": "1s"}

// listed returns the symbols tg lists now, comma-separated. A churning
// market may have replaced the configured ones already, so the tests
// subscribe to what /symbols says, with most of a second before the next
// delisting, which takes one of them.
func listed(t *testing.T, tg *testGateway) string {
	t.Helper()
	tg.waitReady(t)
	syms := getSymbols(t, tg)
	if len(syms) != 4 {
		t.Fatalf("/symbols = %q, want four", syms)
	}
	return strings.Join(syms, ",")
}
