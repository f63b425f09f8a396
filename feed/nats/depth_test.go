package nats

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/ticktest"
)

// depthCollector is a DepthSink that notes every message in arrival order,
// as its upstream JSON (which names its kind and every field), so tests
// compare sequences across kinds. Run writes it while the test reads it.
type depthCollector struct {
	mu   sync.Mutex
	msgs []string
}

func (c *depthCollector) add(b []byte) {
	c.mu.Lock()
	c.msgs = append(c.msgs, string(b))
	c.mu.Unlock()
}

func (c *depthCollector) Publish(t feed.Tick)          { c.add(t.AppendUpstreamJSON(nil)) }
func (c *depthCollector) PublishBook(m feed.Book)      { c.add(m.AppendUpstreamJSON(nil)) }
func (c *depthCollector) PublishStatus(st feed.Status) { c.add(st.AppendUpstreamJSON(nil)) }

// wait waits until c holds n messages and returns them.
func (c *depthCollector) wait(tb testing.TB, n int) []string {
	tb.Helper()
	var got []string
	poll.Until(tb, 5*time.Second, func() error {
		c.mu.Lock()
		got = slices.Clone(c.msgs)
		c.mu.Unlock()
		if len(got) < n {
			return fmt.Errorf("sink has %d messages, want %d", len(got), n)
		}
		return nil
	})
	return got
}

// depthFeed is a feed of ticks, books and status for syms, interleaved as
// a publisher sends them: each symbol's status, a snapshot, then rounds of
// an update and a tick, with a halt and a reopening in the middle.
type depthFeed struct{ msgs []any }

func newDepthFeed(syms []string, rounds int, epoch string) *depthFeed {
	f := &depthFeed{}
	for _, sym := range syms {
		f.msgs = append(f.msgs,
			feed.Status{Symbol: sym, Status: feed.StatusOpen, Seq: 1, TS: 1, Epoch: epoch},
			feed.Book{Symbol: sym, Seq: 1, TS: 1, Epoch: epoch, Snapshot: true,
				Bids: []feed.Level{{Price: 100, Size: 500}, {Price: 99.99, Size: 300}}, Asks: []feed.Level{{Price: 100.02, Size: 200}}})
	}
	for r := 1; r <= rounds; r++ {
		for _, sym := range syms {
			px := 100 + float64(r%50)/100
			f.msgs = append(f.msgs, feed.Book{Symbol: sym, Seq: uint64(r + 1), TS: int64(r + 1), Epoch: epoch,
				Bids: []feed.Level{{Price: px, Size: int64(100 * r)}}, Asks: []feed.Level{{Price: 100.02, Size: 0}, {Price: px + 0.03, Size: 100}}})
			tk := ticktest.Tick(sym, uint64(r))
			tk.Epoch = epoch
			f.msgs = append(f.msgs, tk)
			if r == rounds/2 {
				f.msgs = append(f.msgs, feed.Status{Symbol: sym, Status: feed.StatusHalted, Reason: "LUDP", Seq: 2, TS: int64(r + 1), Epoch: epoch},
					feed.Status{Symbol: sym, Status: feed.StatusOpen, Seq: 3, TS: int64(r + 2), Epoch: epoch})
			}
		}
	}
	return f
}

// publish hands every message to p and flushes.
func (f *depthFeed) publish(tb testing.TB, p *Publisher) {
	tb.Helper()
	for _, m := range f.msgs {
		switch m := m.(type) {
		case feed.Tick:
			p.Publish(m)
		case feed.Book:
			p.PublishBook(m)
		case feed.Status:
			p.PublishStatus(m)
		}
	}
	if err := p.Flush(5 * time.Second); err != nil {
		tb.Fatal(err)
	}
}

// upstream returns each message's upstream JSON, as depthCollector notes it.
func (f *depthFeed) upstream() []string {
	var out []string
	for _, m := range f.msgs {
		switch m := m.(type) {
		case feed.Tick:
			out = append(out, string(m.AppendUpstreamJSON(nil)))
		case feed.Book:
			out = append(out, string(m.AppendUpstreamJSON(nil)))
		case feed.Status:
			out = append(out, string(m.AppendUpstreamJSON(nil)))
		}
	}
	return out
}

// TestDepthRoundTrip publishes ticks, books and status through a
// Publisher; a Source hands them to its DepthSink in the order they were
// published, each kind on its documented subject.
func TestDepthRoundTrip(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	syms := []string{"AAPL", "BRK.B"}
	raw := subscribeSync(t, s.ClientURL(), "ticks.>")
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: syms})
	sink := &depthCollector{}
	f.run(t, sink)
	f.waitReady(t)
	df := newDepthFeed(syms, 100, "run-1")
	df.publish(t, dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}}))
	want := df.upstream()
	if got := sink.wait(t, len(want)); !slices.Equal(got, want) {
		t.Fatalf("source got %d messages, want the %d published in order:\n%s", len(got), len(want), firstDiff(got, want))
	}
	for _, want := range []string{"ticks.status.AAPL", "ticks.book.AAPL", "ticks.status.BRK.B", "ticks.book.BRK.B", "ticks.book.AAPL", "ticks.AAPL"} {
		if m := next(t, raw); m.Subject != want {
			t.Fatalf("message on %s, want %s", m.Subject, want)
		}
	}
	if n := metric(t, f.reg, feed.DecodeErrorsMetric); n != 0 {
		t.Fatalf("%v refused, want none", n)
	}
}

// firstDiff describes where got and want first differ.
func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d: got  %s\nwant %s", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("lengths %d and %d", len(got), len(want))
}

// TestDepthPlainSink: a sink that takes ticks alone gets them, and the
// book and status messages beside them are neither handed on nor counted
// as bad.
func TestDepthPlainSink(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}})
	sink := &collector{}
	f.run(t, sink)
	f.waitReady(t)
	df := newDepthFeed([]string{"AAPL"}, 20, "")
	df.publish(t, dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}}))
	var want []feed.Tick
	for seq := uint64(1); seq <= 20; seq++ {
		want = append(want, ticktest.Tick("AAPL", seq))
	}
	ticktest.Equal(t, sink.waitTicks(t, len(want)), want)
	if n := metric(t, f.reg, feed.DecodeErrorsMetric); n != 0 {
		t.Fatalf("%v refused, want none", n)
	}
}

// TestDepthBadPayloads sends bad book and status messages between good
// ones: each is counted under its kind and reason, logged once per symbol,
// kind and reason, and never reaches the sink, while the good ones around
// it all do, in order.
func TestDepthBadPayloads(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL", "BRK.B"}})
	sink := &depthCollector{}
	f.run(t, sink)
	f.waitReady(t)
	nc := connect(t, s.ClientURL())
	good := []struct{ subject, data string }{
		{"ticks.book.AAPL", `{"type":"book","sym":"AAPL","seq":1,"bids":[[100,5]],"asks":[[101,5]],"ts":1}`},
		{"ticks.status.AAPL", `{"type":"status","sym":"AAPL","seq":1,"status":"open","ts":1}`},
		{"ticks.book.BRK.B", `{"type":"book_update","sym":"BRK.B","seq":7,"bids":[[100,0]],"asks":[],"ts":1}`},
	}
	bad := []struct {
		subject, data, kind, reason string
	}{
		{"ticks.book.AAPL", `{"type":"book_update","sym":"AAPL","seq":2,"bids":[[100,-5]],"asks":[],"ts":2}`, "book", "negative_size"},
		{"ticks.book.AAPL", `{"type":"book_update","sym":"AAPL","seq":2,"bids":[[100,-6]],"asks":[],"ts":2}`, "book", "negative_size"},
		{"ticks.book.AAPL", `{"type":"book","sym":"AAPL","seq":2,"bids":[[101,5]],"asks":[[100,5]],"ts":2}`, "book", "crossed"},
		{"ticks.book.AAPL", `{"type":"book","sym":"AAPL","seq":2,"bids":[[99,5],[100,5]],"asks":[],"ts":2}`, "book", "levels"},
		{"ticks.book.AAPL", `{"type":"book","sym":"AAPL"`, "book", "malformed"},
		{"ticks.book.AAPL", `{"type":"status","sym":"AAPL","seq":2,"status":"open","ts":2}`, "book", "malformed"},
		{"ticks.book.AAPL", `{"type":"book","sym":"BRK.B","seq":2,"bids":[],"asks":[],"ts":2}`, "book", "symbol"},
		{"ticks.book.TSLA", `{"type":"book","sym":"TSLA","seq":1,"bids":[],"asks":[],"ts":2}`, "book", "symbol"},
		{"ticks.status.AAPL", `{"type":"status","sym":"AAPL","seq":2,"status":"paused","ts":2}`, "status", "unknown_status"},
		{"ticks.status.AAPL", `{"type":"status","sym":"AAPL","seq":2,"status":"stale","ts":2}`, "status", "unknown_status"},
		{"ticks.status.AAPL", `{"type":"status","sym":"AAPL","seq":2,"status":"halted","reason":"no spaces","ts":2}`, "status", "field"},
		{"ticks.status.BRK.B", `not json`, "status", "malformed"},
	}
	publish(t, nc, good[0].subject, []byte(good[0].data))
	for _, b := range bad {
		publish(t, nc, b.subject, []byte(b.data))
	}
	publish(t, nc, good[1].subject, []byte(good[1].data))
	publish(t, nc, good[2].subject, []byte(good[2].data))
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got := sink.wait(t, len(good))
	if len(got) != len(good) || !strings.Contains(got[0], `"seq":1,"bids":[[100,5]]`) || !strings.Contains(got[1], `"status":"open"`) || !strings.Contains(got[2], `"BRK.B","seq":7`) {
		t.Fatalf("sink got %q, want the %d good messages alone", got, len(good))
	}
	want := map[[2]string]float64{}
	for _, b := range bad {
		want[[2]string{b.kind, b.reason}]++
	}
	for k, n := range want {
		if got := refused(t, f.reg, k[0], k[1]); got != n {
			t.Errorf("%s{kind=%s,reason=%s} = %v, want %v", feed.DecodeErrorsMetric, k[0], k[1], got, n)
		}
	}
	// One line per (symbol, kind, reason): AAPL's two negative sizes, two
	// malformed books and two unknown states share one each, and the two
	// book messages of the wrong symbol count as AAPL's and as one outside
	// the universe.
	if n := strings.Count(f.log.String(), "dropped bad feed message"); n != len(bad)-3 {
		t.Errorf("logged %d refusals, want %d:\n%s", n, len(bad)-3, f.log)
	}
}

// TestDepthStreamReplay: with a stream, a starting source replays books
// and status with the ticks, in publish order, before it reports ready.
func TestDepthStreamReplay(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	syms := []string{"AAPL", "BRK.B"}
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS"})
	df := newDepthFeed(syms, 30, "run-1")
	df.publish(t, pub)
	want := df.upstream()
	waitStored(t, s.ClientURL(), "TICKS", uint64(len(want)))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: syms, Stream: "TICKS"})
	sink := &depthCollector{}
	f.run(t, sink)
	f.waitReady(t)
	sink.mu.Lock()
	got := slices.Clone(sink.msgs)
	sink.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("replayed %d messages by ready, want the %d published, in order:\n%s", len(got), len(want), firstDiff(got, want))
	}
}

// TestPublisherDepthAllocs: PublishBook and PublishStatus allocate nothing
// per message, on core NATS and with acks (a reply subject nobody serves,
// as in TestPublisherAcksAllocs). testing.AllocsPerRun counts the whole
// process, and the in-process server allocates as it reads, now and then
// under the race detector; allocsOnStack counts only what the publishing
// goroutine allocates.
func TestPublisherDepthAllocs(t *testing.T) {
	s := natstest.Run(t, natstest.Options(-1))
	m := feed.Book{Symbol: "BRK.B", Seq: 9, TS: 1, Epoch: "run-1", Bids: []feed.Level{{Price: 470.01, Size: 300}, {Price: 470, Size: 0}}, Asks: []feed.Level{{Price: 470.05, Size: 100}}}
	st := feed.Status{Symbol: "BRK.B", Seq: 2, TS: 1, Epoch: "run-1", Status: feed.StatusHalted, Reason: "LUDP"}
	core := NewPublisher(connect(t, s.ClientURL()), "")
	acked := quietPublisher(t, s.ClientURL())
	for name, p := range map[string]*Publisher{"core": core, "acks": acked} {
		p.PublishBook(m) // warm the subject caches and the buffer
		p.PublishStatus(st)
		if n := allocsOnStack(1000, func() { p.PublishBook(m) }); n != 0 {
			t.Errorf("%s: PublishBook allocates %v times per message, want 0", name, n)
		}
		if n := allocsOnStack(1000, func() { p.PublishStatus(st) }); n != 0 {
			t.Errorf("%s: PublishStatus allocates %v times per message, want 0", name, n)
		}
	}
	if core.Errors() != 0 || acked.Errors() != 0 {
		t.Fatalf("%d, %d publish errors", core.Errors(), acked.Errors())
	}
	if n := allocsOnStack(100, func() { _ = make([]byte, 64+len(m.Symbol)) }); n != 1 {
		t.Fatalf("allocsOnStack counts %v allocations of one, want 1", n)
	}
}

// allocsOnStack runs f n times and returns the allocations per run made
// with f's caller, onStack, on the stack: f's and what it calls, not other
// goroutines'. As testing.AllocsPerRun it rounds the average down, so the
// growth now and then of nats.go's write buffer, amortised, counts as 0. It
// samples every allocation meanwhile (MemProfileRate 1); the profile is
// complete a few collections later.
func allocsOnStack(n int, f func()) int64 {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	settle := func() int64 {
		for range 3 {
			runtime.GC()
		}
		return allocsUnder("onStack")
	}
	before := settle()
	onStack(n, f)
	return (settle() - before) / int64(n)
}

// onStack runs f n times; allocsOnStack looks for it in stacks.
//
//go:noinline
func onStack(n int, f func()) {
	for range n {
		f()
	}
}

// allocsUnder sums the allocations ever sampled with the function of this
// package named fn on the stack.
func allocsUnder(fn string) int64 {
	recs := make([]runtime.MemProfileRecord, 1024)
	for {
		k, ok := runtime.MemProfile(recs, true)
		if ok {
			recs = recs[:k]
			break
		}
		recs = make([]runtime.MemProfileRecord, k+1024)
	}
	var sum int64
	for _, r := range recs {
		frames := runtime.CallersFrames(r.Stack())
		for {
			fr, more := frames.Next()
			if strings.HasSuffix(fr.Function, "/feed/nats."+fn) {
				sum += r.AllocObjects
				break
			}
			if !more {
				break
			}
		}
	}
	return sum
}

// TestDepthEndsStall: a status message alone ends a stall, as a tick
// does: the feed is heard.
func TestDepthEndsStall(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}, StallAfter: 200 * time.Millisecond})
	sink := &depthCollector{}
	f.run(t, sink)
	f.waitReady(t)
	poll.Until(t, 10*time.Second, func() error {
		if h, _ := f.src.Health(); h != feed.Stalled {
			return fmt.Errorf("health %v, want stalled", h)
		}
		return nil
	})
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}})
	pub.PublishStatus(feed.Status{Symbol: "AAPL", Status: feed.StatusHalted, Reason: "T1", Seq: 4, TS: 1})
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	f.waitReady(t)
	sink.wait(t, 1)
}
