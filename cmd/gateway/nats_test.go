package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/sim"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

// yamlList renders urls as a YAML flow sequence for yamlOf.
func yamlList(urls ...string) string {
	return `["` + strings.Join(urls, `", "`) + `"]`
}

// natsGateway is the configuration of a gateway reading NATS at urls,
// reconnecting quickly so that tests stay short. It lists the simulator's
// symbols from the start (feed.nats.symbols), so that clients may
// subscribe before the feed flows, as the tests of outages do; a gateway
// that learns its universe from the feed is universeGateway.
func natsGateway(urls ...string) map[string]string {
	return map[string]string{
		"feed.source":              "nats",
		"feed.nats.urls":           yamlList(urls...),
		"feed.nats.reconnect_wait": "20ms",
		"feed.nats.symbols":        yamlList(sim.DefaultSymbols...),
	}
}

// startPublisher runs "gateway publish" (the simulator at testBase's rate)
// in-process into the NATS servers at urls until the test ends.
func startPublisher(t *testing.T, urls ...string) {
	t.Helper()
	runPublisher(t, natsGateway(urls...))
}

// runPublisher runs "gateway publish" configured by overrides in-process
// until the returned stop is called or the test ends (startPublish).
func runPublisher(t *testing.T, overrides map[string]string) (stop func()) {
	t.Helper()
	_, stop = startPublish(t, overrides)
	return stop
}

// subscribed reads c's first message and fails unless it is the
// subscribed reply listing syms (comma-separated).
func subscribed(c *wstest.Client, syms string) {
	c.TB.Helper()
	if m := c.Next(); m.Type != "subscribed" || strings.Join(m.Symbols, ",") != syms {
		c.TB.Fatalf("first message %s, want subscribed %s", m.Raw, syms)
	}
}

// tickLog is the ticks a client received, by symbol and seq.
type tickLog map[string]map[uint64]feed.Tick

// collect reads ticks from c, checking each symbol's seqs are contiguous,
// until every symbol in want has a tick with seq >= want[sym].
func (l tickLog) collect(c *wstest.Client, seqs seqCheck, want map[string]uint64) {
	c.TB.Helper()
	for {
		done := true
		for sym, seq := range want {
			if seqs[sym] < seq {
				done = false
			}
		}
		if done {
			return
		}
		m := c.Next()
		if m.Type != "tick" || want[m.Sym] == 0 {
			c.TB.Fatalf("got %s, want only ticks of the subscribed symbols", m.Raw)
		}
		seqs.tick(c.TB, m)
		tk, _ := feed.DecodeJSON(m.Raw) // seqs.tick decoded it already
		if l[m.Sym] == nil {
			l[m.Sym] = map[uint64]feed.Tick{}
		}
		l[m.Sym][m.Seq] = tk
	}
}

// TestFleetOverNATS runs "gateway publish" into NATS and two gateways
// reading it: clients of either must see the same ticks under the same seqs.
func TestFleetOverNATS(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.Options(-1))
	startPublisher(t, ns.ClientURL())
	gws := []*testGateway{startGateway(t, natsGateway(ns.ClientURL())), startGateway(t, natsGateway(ns.ClientURL()))}
	for _, tg := range gws {
		tg.waitReady(t) // both first: the clients subscribe close together
	}
	var clients []*wstest.Client
	for _, tg := range gws {
		c := connect(t, tg, "?symbols=AAPL,MSFT")
		subscribed(c, "AAPL,MSFT")
		clients = append(clients, c)
	}

	// The second client, which subscribed last, takes its first tick of
	// each symbol; the first client reads from its own first through 100
	// ticks past that; the second reads up to where the first stopped. So
	// the two overlap by 100 ticks however long the second took to connect.
	const n = 100
	logs := []tickLog{{}, {}}
	seqs := []seqCheck{{}, {}}
	logs[1].collect(clients[1], seqs[1], map[string]uint64{"AAPL": 1, "MSFT": 1})
	want := map[string]uint64{}
	for sym, at := range seqs[1] {
		want[sym] = at + n
	}
	logs[0].collect(clients[0], seqs[0], want)
	logs[1].collect(clients[1], seqs[1], seqs[0])

	for _, sym := range []string{"AAPL", "MSFT"} {
		same := 0
		for seq, a := range logs[0][sym] {
			b, ok := logs[1][sym][seq]
			if !ok {
				continue
			}
			if a != b {
				t.Errorf("%s seq %d: gateway 0 sent %+v, gateway 1 sent %+v", sym, seq, a, b)
			}
			same++
		}
		if same < n/2 {
			t.Errorf("%s: only %d seqs seen by both clients, want at least %d", sym, same, n/2)
		}
		t.Logf("%s: %d ticks compared", sym, same)
	}
}

// TestGatewayNATSFailover shuts down the NATS node a gateway reads from:
// the gateway must reconnect to another node and its client keep getting
// ticks, with gaps at worst, never a repeat.
func TestGatewayNATSFailover(t *testing.T) {
	t.Parallel()
	nodes := natstest.RunCluster(t, 3)
	urls := natstest.ClientURLs(nodes)
	tg := startGateway(t, natsGateway(urls...))
	tg.waitReady(t)

	// The gateway is the only NATS client so far: its node is the one with
	// a client. The publisher goes to another, which survives.
	victim, pubNode := natstest.ClientNode(t, nodes)
	startPublisher(t, pubNode.ClientURL())
	c := connect(t, tg, "?symbols=AAPL")
	subscribed(c, "AAPL")

	var last uint64
	gaps, missed, gapNotices := 0, uint64(0), 0
	var notices []string
	nextSeq := func() uint64 {
		t.Helper()
		m := c.Next()
		for m.Type == "notice" {
			if m.Code == "gap" { // the ticks the gateway missed while it reconnected, told in-band
				gapNotices++
			} else {
				notices = append(notices, m.Code)
			}
			m = c.Next()
		}
		if m.Type != "tick" || m.Sym != "AAPL" {
			t.Fatalf("got %s, want AAPL ticks and notices only", m.Raw)
		}
		if m.Seq <= last {
			t.Fatalf("AAPL seq %d after %d: repeated or out of order", m.Seq, last)
		}
		if last != 0 && m.Seq != last+1 {
			gaps++
			missed += m.Seq - last - 1
			t.Logf("gap: AAPL seq %d after %d", m.Seq, last)
		}
		last = m.Seq
		return m.Seq
	}
	for range 50 {
		nextSeq()
	}

	natstest.Stop(victim)
	// Read on until the gateway has reconnected and its client has had 50
	// more ticks after that.
	counters := func() (d, r float64) {
		d, _ = metricValue(t, tg.gw.reg, "tickgate_feed_nats_disconnects_total")
		r, _ = metricValue(t, tg.gw.reg, "tickgate_feed_nats_reconnects_total")
		return d, r
	}
	// The notices are read on too: a reconnect quick enough to finish
	// before the feed watcher runs leaves the gateway ready throughout, and
	// the watcher, on a loaded machine, may queue both notices later.
	var after uint64 // first seq read once the gateway was back
	deadline := time.Now().Add(15 * time.Second)
	for checked := time.Now(); after == 0 || last < after+50 || len(notices) < 2; {
		seq := nextSeq()
		if time.Now().After(deadline) {
			d, r := counters()
			t.Fatalf("15s after the node stopped: disconnects %g, reconnects %g, ready %v, notices %q", d, r, tg.gw.clients.Ready(), notices)
		}
		if after != 0 || time.Since(checked) < 10*time.Millisecond {
			continue
		}
		checked = time.Now()
		if d, r := counters(); d >= 1 && r >= 1 && tg.gw.clients.Ready() {
			after = seq
		}
	}
	if d, r := counters(); d != 1 || r != 1 {
		t.Errorf("disconnects %g, reconnects %g; want 1 and 1 for one failover", d, r)
	}
	select {
	case <-tg.done:
		t.Fatalf("serve returned %v during the failover", tg.err)
	default:
	}
	if code, _ := get(tg.url + "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d after the failover, want 200", code)
	}
	// The client was told: feed_down when the node went, feed_up once the
	// gateway was back (ready implies clients were told).
	if strings.Join(notices, ",") != "feed_down,feed_up" {
		t.Errorf("notices %q during the failover, want feed_down then feed_up", notices)
	}
	if gapNotices != gaps {
		t.Errorf("%d gap notices for %d gaps: every seq jump must be told", gapNotices, gaps)
	}
	t.Logf("failover: %d gaps, %d ticks missed; AAPL reached seq %d", gaps, missed, last)
}

// TestGatewayStartsWithoutNATS starts a gateway before any NATS server:
// it serves but is not ready, and becomes ready once one comes up.
func TestGatewayStartsWithoutNATS(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	tg := startGateway(t, natsGateway(url))
	poll.Until(t, 5*time.Second, func() error {
		if n, _ := metricValue(t, tg.gw.reg, "tickgate_feed_nats_connect_errors_total"); n < 2 {
			return fmt.Errorf("%g failed connect attempts, want >= 2", n)
		}
		return nil
	})
	// Retrying, it stays alive and unready.
	poll.Holds(t, 300*time.Millisecond, 50*time.Millisecond, func() error {
		if code, _ := get(tg.url + "/readyz"); code != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz = %d without NATS, want 503", code)
		}
		if code, _ := get(tg.url + "/healthz"); code != http.StatusOK {
			return fmt.Errorf("/healthz = %d without NATS, want 200", code)
		}
		return nil
	})
	// A client that connects while the feed is down is told so first.
	c := connect(t, tg, "?symbols=AAPL")
	if m := c.Next(); m.Type != "notice" || m.Code != "feed_down" {
		t.Fatalf("first message %s, want the feed_down notice", m.Raw)
	}
	subscribed(c, "AAPL")

	ns := natstest.Run(t, natstest.Options(port))
	startPublisher(t, ns.ClientURL())
	poll.Until(t, 10*time.Second, func() error {
		if code, _ := get(tg.url + "/readyz"); code != http.StatusOK {
			return fmt.Errorf("/readyz = %d", code)
		}
		return nil
	})
	// feed_up comes once, maybe a moment after the first ticks.
	seqs, ups := seqCheck{}, 0
	for ticks := 0; ticks < 20 || ups == 0; {
		switch m := c.Next(); {
		case m.Type == "notice" && m.Code == "feed_up":
			ups++
		case m.Type == "tick" && m.Sym == "AAPL":
			seqs.tick(t, m)
			ticks++
		default:
			t.Fatalf("got %s, want AAPL ticks and one feed_up", m.Raw)
		}
	}
	if ups != 1 {
		t.Errorf("%d feed_up notices, want 1", ups)
	}
}

// nextNotice reads past ticks to the next message that is not one, and
// fails unless it is the notice code.
func nextNotice(c *wstest.Client, code string) {
	c.TB.Helper()
	m := c.Next()
	for m.Type == "tick" || m.Type == "notice" && (m.Code == "reset" || m.Code == "gap") {
		m = c.Next() // a restarted publisher's reset may come before or after feed_up
	}
	if m.Type != "notice" || m.Code != code {
		c.TB.Fatalf("got %s, want the %s notice", m.Raw, code)
	}
}

// TestGatewayFeedNotices stops the publisher, then the NATS server:
// clients get feed_down when the feed stalls or goes down and feed_up when
// it is back, and /readyz and the stall metric follow.
func TestGatewayFeedNotices(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	ns := natstest.Run(t, natstest.Options(port))
	cfg := natsGateway(ns.ClientURL())
	cfg["feed.nats.stall_after"] = "1s"
	cfg["publish.heartbeat"] = "100ms"
	stopPub := runPublisher(t, cfg)
	tg := startGateway(t, cfg)
	tg.waitReady(t)
	a := connect(t, tg, "?symbols=AAPL")
	subscribed(a, "AAPL")

	// The publisher goes: neither ticks nor heartbeats, so stalled.
	stopPub()
	nextNotice(a, "feed_down")
	if code, _ := get(tg.url + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d while stalled, want 503", code)
	}
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_feed_nats_stalled"); v != 1 {
		t.Errorf("tickgate_feed_nats_stalled = %g while stalled, want 1", v)
	}
	b := connect(t, tg, "")
	nextNotice(b, "feed_down")

	// A new publisher's heartbeats (or first ticks, seq 1 in a new epoch)
	// end the stall.
	runPublisher(t, cfg)
	nextNotice(a, "feed_up")
	nextNotice(b, "feed_up")
	tg.waitReady(t)
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_feed_nats_stalled"); v != 0 {
		t.Errorf("tickgate_feed_nats_stalled = %g after the stall, want 0", v)
	}

	// The server goes: down, then up again when it is back.
	natstest.Stop(ns)
	nextNotice(a, "feed_down")
	nextNotice(b, "feed_down")
	natstest.Run(t, natstest.Options(port))
	nextNotice(a, "feed_up")
	nextNotice(b, "feed_up")
	tg.waitReady(t)
}
