package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/ticktest"
)

// metric returns the value of the counter name in reg, 0 if absent.
func metric(tb testing.TB, reg *prometheus.Registry, name string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var v float64
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
			return v
		}
	}
	return 0
}

func TestPublishReceive(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	syms := []string{"AAPL", "BRK.B", "MSFT"}
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: syms})
	sink := &collector{}
	f.run(t, sink)
	f.waitReady(t)

	pub := NewPublisher(connect(t, s.ClientURL()), "")
	var want []feed.Tick
	for seq := uint64(1); seq <= 300; seq++ {
		for _, sym := range syms {
			tk := ticktest.Tick(sym, seq)
			want = append(want, tk)
			pub.Publish(tk)
		}
	}
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	ticktest.Equal(t, sink.waitTicks(t, len(want)), want)
	if pub.Published() != uint64(len(want)) || pub.Errors() != 0 {
		t.Errorf("publisher counted %d published, %d errors; want %d, 0", pub.Published(), pub.Errors(), len(want))
	}
}

func TestBadPayloads(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Prefix: "md.us", Symbols: []string{"AAPL", "BRK.B"}})
	sink := &collector{}
	f.run(t, sink)
	f.waitReady(t)

	nc := connect(t, s.ClientURL())
	good := []feed.Tick{ticktest.Tick("AAPL", 1), ticktest.Tick("TSLA", 1), ticktest.Tick("BRK.B", 1), ticktest.Tick("AAPL", 2)}
	seq0 := ticktest.Tick("AAPL", 1)
	seq0.Seq = 0
	bad := []struct{ subject, data string }{
		{"md.us.AAPL", "not json"},
		{"md.us.AAPL", string(encode(ticktest.Tick("BRK.B", 2)))}, // symbol differs from subject
		{"md.us.AAPL", string(encode(seq0))},
		{"md.us.BRK", string(encode(ticktest.Tick("BRK.B", 3)))}, // half of a dotted symbol
		{"md.us.AAPL", `{"type":"quote","sym":"AAPL"}`},
		{"md.us._ref.AAPL", `{"type":"listing","sym":"MSFT"}`}, // symbol differs from subject
		{"md.us._ref.AAPL", `{"type":"split","sym":"AAPL"}`},
		{"md.us._ref.AAPL", `{"type":"listing","sym":"AAPL","prev_close":-1}`},
		{"md.us._ref", `{"type":"listing","sym":"AAPL"}`},
	}
	publish(t, nc, "md.us.AAPL", encode(good[0]))
	for _, b := range bad {
		publish(t, nc, b.subject, []byte(b.data))
	}
	publish(t, nc, "md.us.TSLA", encode(good[1]))
	publish(t, nc, "md.us._ref.NEW", []byte(`{"type":"listing","sym":"NEW","prev_close":12.5}`))
	publish(t, nc, "md.us.BRK.B", encode(good[2]))
	publish(t, nc, "md.us._ref.TSLA", []byte(`{"type":"delisting","sym":"TSLA"}`))
	publish(t, nc, "md.us.AAPL", encode(good[3]))
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	ticktest.Equal(t, sink.waitTicks(t, len(good)), good)
	wantListings := []feed.Listing{{Symbol: "NEW", PrevClose: 12.5}, {Symbol: "TSLA", Delisted: true}}
	if got := sink.gotListings(); !slices.Equal(got, wantListings) {
		t.Errorf("listings %+v, want %+v", got, wantListings)
	}
	for _, c := range []struct {
		kind, reason string
		want         float64
	}{
		{"tick", "malformed", 3}, {"tick", "symbol", 2}, {"tick", "field", 1},
		{"listing", "malformed", 1}, {"listing", "symbol", 1}, {"listing", "field", 1},
	} {
		if got := refused(t, f.reg, c.kind, c.reason); got != c.want {
			t.Errorf("%s{kind=%s,reason=%s} = %v, want %v", feed.DecodeErrorsMetric, c.kind, c.reason, got, c.want)
		}
	}
	if n := metric(t, f.reg, feed.DecodeErrorsMetric); n != float64(len(bad)) {
		t.Errorf("%v refused in all, want %d", n, len(bad))
	}
	// Logged once per symbol, kind and reason: ticks of AAPL malformed,
	// symbol and field, of BRK symbol, of "" (the subject md.us._ref names
	// no valid symbol) malformed; listings of AAPL symbol, malformed and
	// field.
	if n := strings.Count(f.log.String(), "dropped bad feed message"); n != 8 {
		t.Errorf("logged %d refusals for %d bad messages, want 8:\n%s", n, len(bad), f.log)
	}
}

// refused returns the NATS source's decode-errors count of kind and
// reason in reg.
func refused(tb testing.TB, reg *prometheus.Registry, kind, reason string) float64 {
	tb.Helper()
	return ticktest.Refused(tb, reg, "nats", kind, reason)
}

// encode returns t's wire form.
func encode(t feed.Tick) []byte {
	return t.AppendJSON(nil)
}

// publish publishes data on subject or fails the test.
func publish(tb testing.TB, nc *natsgo.Conn, subject string, data []byte) {
	tb.Helper()
	if err := nc.Publish(subject, data); err != nil {
		tb.Fatalf("publish %s: %v", subject, err)
	}
}

func TestStartWhileDown(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	f := newFixture(t, Config{URLs: []string{url}, Symbols: []string{"AAPL"}})
	sink := &collector{}
	run := f.run(t, sink)

	// Run keeps retrying, unready, and does not return.
	poll.Until(t, 5*time.Second, func() error {
		if n := metric(t, f.reg, "tickgate_feed_nats_connect_errors_total"); n < 2 {
			return fmt.Errorf("%v failed connect attempts, want >= 2", n)
		}
		return nil
	})
	if f.src.Ready() {
		t.Fatal("Ready() = true with no server")
	}
	if err, returned := run.Returned(); returned {
		t.Fatalf("Run returned %v with no server, want it to keep retrying", err)
	}

	s := natstest.Run(t, natstest.Options(port))
	f.waitReady(t)
	pub := NewPublisher(connect(t, s.ClientURL()), "")
	want := []feed.Tick{ticktest.Tick("AAPL", 1), ticktest.Tick("AAPL", 2)}
	for _, tk := range want {
		pub.Publish(tk)
	}
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	ticktest.Equal(t, sink.waitTicks(t, len(want)), want)
}

func TestClusterFailover(t *testing.T) {
	t.Parallel()
	nodes := natstest.RunCluster(t, 3)
	urls := natstest.ClientURLs(nodes)
	syms := []string{"AAPL", "BRK.B"}
	f := newFixture(t, Config{URLs: urls, Symbols: syms})
	sink := &collector{}
	f.run(t, sink)
	f.waitReady(t)

	// The source is the only client so far: its node is the one with one.
	victim, pubNode := natstest.ClientNode(t, nodes)
	p := &pump{pub: NewPublisher(connect(t, pubNode.ClientURL()), ""), syms: syms}

	// Interest crosses the route asynchronously: publish until ticks arrive.
	p.until(t, sink, 1)
	natstest.Stop(victim)
	poll.Until(t, 10*time.Second, func() error {
		d := metric(t, f.reg, "tickgate_feed_nats_disconnects_total")
		r := metric(t, f.reg, "tickgate_feed_nats_reconnects_total")
		if d != 1 || r != 1 {
			return fmt.Errorf("disconnects %v, reconnects %v; want 1, 1", d, r)
		}
		return nil
	})
	p.until(t, sink, p.seq+1)
	f.waitReady(t) // up again once ticks flow

	// Anything lost while the route interest moved shows only as a gap.
	last := map[string]uint64{}
	for i, tk := range sink.got() {
		if tk.Seq <= last[tk.Symbol] {
			t.Fatalf("tick %d: %s seq %d after %d", i, tk.Symbol, tk.Seq, last[tk.Symbol])
		}
		if tk != ticktest.Tick(tk.Symbol, tk.Seq) {
			t.Fatalf("tick %d = %+v, want %+v", i, tk, ticktest.Tick(tk.Symbol, tk.Seq))
		}
		last[tk.Symbol] = tk.Seq
	}
}

// pump publishes one tick per symbol per round, in rising seq.
type pump struct {
	pub  *Publisher
	syms []string
	seq  uint64 // last seq published
}

// until publishes rounds until sink holds a tick with seq >= from for every
// symbol, so it survives subscription interest still crossing a route.
func (p *pump) until(t *testing.T, sink *collector, from uint64) {
	t.Helper()
	poll.Until(t, 10*time.Second, func() error {
		p.seq++
		for _, sym := range p.syms {
			p.pub.Publish(ticktest.Tick(sym, p.seq))
		}
		if err := p.pub.Flush(time.Second); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, tk := range sink.got() {
			if tk.Seq >= from {
				seen[tk.Symbol] = true
			}
		}
		if len(seen) < len(p.syms) {
			return fmt.Errorf("ticks with seq >= %d seen for %d of %d symbols", from, len(seen), len(p.syms))
		}
		return nil
	})
}

// blockingSink holds Publish until release is closed, then collects.
type blockingSink struct {
	collector
	release chan struct{}
	once    sync.Once
}

func (b *blockingSink) Publish(t feed.Tick) {
	<-b.release
	b.collector.Publish(t)
}

func (b *blockingSink) unblock() { b.once.Do(func() { close(b.release) }) }

func TestSlowConsumerDrops(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}})
	f.src.pending = 8
	sink := &blockingSink{release: make(chan struct{})}
	f.run(t, sink)
	t.Cleanup(sink.unblock) // runs before Run is stopped
	f.waitReady(t)

	const n = 100
	pub := NewPublisher(connect(t, s.ClientURL()), "")
	for seq := uint64(1); seq <= n; seq++ {
		pub.Publish(ticktest.Tick("AAPL", seq))
	}
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	var dropped float64
	poll.Until(t, 5*time.Second, func() error {
		// One tick is held in Publish, 8 wait in the channel.
		if dropped = metric(t, f.reg, "tickgate_feed_nats_dropped_total"); dropped < n-1-8 {
			return fmt.Errorf("%v ticks dropped, want %d", dropped, n-1-8)
		}
		return nil
	})
	sink.unblock()
	got := sink.waitTicks(t, n-int(dropped))
	for i := 1; i < len(got); i++ {
		if got[i].Seq <= got[i-1].Seq {
			t.Fatalf("seq %d after %d", got[i].Seq, got[i-1].Seq)
		}
	}
	// The source goes on after the drops.
	pub.Publish(ticktest.Tick("AAPL", n+1))
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got := sink.waitTicks(t, n-int(dropped)+1); got[len(got)-1].Seq != n+1 {
		t.Fatalf("last tick seq %d, want %d", got[len(got)-1].Seq, n+1)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{Symbols: []string{"AAPL", "AAPL"}},
		{Symbols: []string{"aapl"}},
		{Symbols: []string{"BRK..B"}},
		{Symbols: []string{".B"}},
		{Symbols: []string{"AAPL"}, Prefix: "ticks.*"},
		{Symbols: []string{"AAPL"}, Prefix: "ticks."},
		{Symbols: []string{"AAPL"}, Prefix: "a b"},
		{Symbols: []string{"AAPL"}, ReconnectWait: -time.Second},
	} {
		if _, err := New(cfg, prometheus.NewRegistry(), discard()); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		} else if !strings.HasPrefix(err.Error(), "nats: ") {
			t.Errorf("New(%+v) error %q lacks the package prefix", cfg, err)
		}
	}
}

func TestRunOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{URLs: []string{fmt.Sprintf("nats://127.0.0.1:%d", natstest.FreePort(t))}, Symbols: []string{"AAPL"}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.src.Run(ctx, &collector{}); err != nil {
		t.Fatalf("Run with a done context: %v", err)
	}
	if err := f.src.Run(context.Background(), &collector{}); err == nil {
		t.Fatal("second Run returned nil, want an error")
	}
	if f.src.Ready() {
		t.Fatal("Ready() = true after Run returned")
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Prefix: "md.us", Symbols: []string{"AAPL", "BRK.B"}})
	for _, c := range []struct {
		subject string
		tick    feed.Tick
		ok      bool
	}{
		{"md.us.AAPL", ticktest.Tick("AAPL", 1), true},
		{"md.us.BRK.B", ticktest.Tick("BRK.B", 7), true},
		{"md.us.BRK", ticktest.Tick("BRK.B", 7), false},
		{"md.us.B", ticktest.Tick("BRK.B", 7), false},
		{"md.usAAPL", ticktest.Tick("AAPL", 1), false},
		{"md.AAPL", ticktest.Tick("AAPL", 1), false},
		{"md.us.MSFT", ticktest.Tick("MSFT", 1), true}, // not listed yet: the engine's to judge
		{"md.us.AAPL", ticktest.Tick("BRK.B", 1), false},
	} {
		kind, sym, ok := route(f.src.prefix, c.subject)
		if !ok || kind != feed.KindTick {
			t.Fatalf("route(%s) = %v, %q, %v; want a tick's subject", c.subject, kind, sym, ok)
		}
		got, err := ticks.decodeFor(sym, encode(c.tick))
		switch {
		case c.ok && (err != nil || got != c.tick):
			t.Errorf("decode(%s, %s) = %+v, %v; want the tick", c.subject, c.tick.Symbol, got, err)
		case !c.ok && err == nil:
			t.Errorf("decode(%s, %s) accepted the tick", c.subject, c.tick.Symbol)
		case !c.ok && !errors.Is(err, feed.ErrBadTick):
			t.Errorf("decode(%s, %s) error %v is not feed.ErrBadTick", c.subject, c.tick.Symbol, err)
		}
	}
}

// TestRoute: every subject under the prefix is a heartbeat or names its
// kind and symbol, a symbol with a '.' included.
func TestRoute(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		subject string
		kind    feed.Kind
		sym     string
		ok      bool
	}{
		{"md.us._hb", 0, "", false},
		{"md.us.AAPL", feed.KindTick, "AAPL", true},
		{"md.us.BRK.B", feed.KindTick, "BRK.B", true},
		{"md.us._ref.BRK.B", feed.KindListing, "BRK.B", true},
		{"md.us.book.BRK.B", feed.KindBook, "BRK.B", true},
		{"md.us.status.AAPL", feed.KindStatus, "AAPL", true},
	} {
		kind, sym, ok := route("md.us.", c.subject)
		if kind != c.kind || sym != c.sym || ok != c.ok {
			t.Errorf("route(%s) = %v, %q, %v; want %v, %q, %v", c.subject, kind, sym, ok, c.kind, c.sym, c.ok)
		}
	}
}

func TestPublisherCountsErrors(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	pub := NewPublisher(connect(t, s.ClientURL()), "")
	pub.Publish(ticktest.Tick("AAPL", 1))
	pub.Publish(feed.Tick{Symbol: "A B", Seq: 1}) // not a valid subject
	if pub.Published() != 1 || pub.Errors() != 1 {
		t.Fatalf("published %d, errors %d; want 1, 1", pub.Published(), pub.Errors())
	}
	if err := pub.Flush(5 * time.Second); !errors.Is(err, natsgo.ErrBadSubject) {
		t.Fatalf("Flush = %v, want an error wrapping ErrBadSubject", err)
	}
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatalf("second Flush = %v, want nil (errors are reported once)", err)
	}
}

func TestPublisherAllocs(t *testing.T) {
	s := natstest.Run(t, natstest.Options(-1))
	pub := NewPublisher(connect(t, s.ClientURL()), "")
	tk := ticktest.Tick("BRK.B", 1)
	pub.Publish(tk) // warm the subject cache and buffer
	// AllocsPerRun counts the whole process, and the in-process server
	// allocates as it receives; one allocation per Publish would read >= 1.
	if n := testing.AllocsPerRun(1000, func() { pub.Publish(tk) }); n >= 0.5 {
		t.Errorf("Publish allocates %v times per tick, want 0", n)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	const base, limit = 100 * time.Millisecond, 5 * time.Second
	delay := backoff(base, limit)
	for attempt := 1; attempt <= 100; attempt++ {
		hi := limit
		if attempt <= 6 {
			hi = base << (attempt - 1) // 100ms .. 3.2s
		}
		for range 20 {
			if d := delay(attempt); d < hi/2 || d > hi {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, d, hi/2, hi)
			}
		}
	}
}

func TestMetricsLint(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Symbols: []string{"AAPL"}})
	problems, err := testutil.GatherAndLint(f.reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}
