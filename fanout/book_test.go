package fanout

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/booktest"
	"github.com/tickgate/tickgate/internal/depthtest"
	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// bookFixture is an engine that is not running, one symbol with its
// book generator, and a clock the test sets: books and ticks go straight
// to the shard's deliver at the time given.
type bookFixture struct {
	t    *testing.T
	e    *Engine
	sym  *symbol
	g    *depthtest.Gen
	tick uint64
}

func newBookFixture(t *testing.T, cfg Config) *bookFixture {
	t.Helper()
	if cfg.Shards == 0 {
		cfg.Shards = 1
	}
	e, _ := newEngine(t, cfg, "AAPL", "MSFT")
	return &bookFixture{t: t, e: e, sym: e.lookup("AAPL"), g: depthtest.NewGen("AAPL", 10, 7)}
}

// put delivers b at time at.
func (f *bookFixture) put(b feed.Book, at int64) {
	d := &inDepth{kind: depthBook, book: b}
	f.sym.shard.deliver([]inTick{{sym: f.e.lookup(b.Symbol), op: opDepth, depth: d}}, at)
}

// ticks delivers the next tick of MSFT, a bystander, at time at.
func (f *bookFixture) msftTick(at int64) {
	f.tick++
	f.sym.shard.deliver([]inTick{{sym: f.e.lookup("MSFT"), tick: testTick("MSFT", f.tick)}}, at)
}

// wire decodes each message as the client gets it, its count spliced in.
func decodeWire(tb testing.TB, msgs []Message) []wstest.Msg {
	tb.Helper()
	out := make([]wstest.Msg, len(msgs))
	for i := range msgs {
		m, err := wstest.Decode(msgs[i].AppendTo(nil))
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = m
	}
	return out
}

// applyAll applies msgs to a client's copy, failing on a bad seq or
// checksum, and returns them decoded.
func applyAll(tb testing.TB, b *depthtest.Book, msgs []Message) []wstest.Msg {
	tb.Helper()
	ws := decodeWire(tb, msgs)
	for _, m := range ws {
		if m.Type == "notice" && m.Code != "gap" && m.Code != "reset" {
			continue
		}
		if err := b.Apply(m); err != nil {
			tb.Fatal(err)
		}
	}
	return ws
}

func subscribeBook(tb testing.TB, e *Engine, c *testClient, p Policy) {
	tb.Helper()
	p.Stream = Book
	if _, err := e.Subscribe(c.Client, []string{"AAPL"}, p, nil); err != nil {
		tb.Fatal(err)
	}
}

// TestBookRateClassMerge: under max_rate a book's updates in one slot
// merge into one update, encoded once and shared by the class: its seq
// is the last, n counts them, its checksum is the book's, a level added
// and removed within the slot is not in it, and a copy that applies it
// equals the book. A subscriber that joined within the slot gets the
// book's snapshot at the slot's end instead.
func TestBookRateClassMerge(t *testing.T) {
	t.Parallel()
	f := newBookFixture(t, Config{RateClasses: []float64{2}, RatePhases: 1, BookDepth: 12})
	const slot = int64(500e6)
	every, b1, b2 := newTestClient(f.e), newTestClient(f.e), newTestClient(f.e)
	subscribeBook(t, f.e, every, Policy{})
	subscribeBook(t, f.e, b1, Policy{MaxRate: 2})
	subscribeBook(t, f.e, b2, Policy{MaxRate: 2})
	f.put(f.g.Snapshot(), 10*slot) // a quiet slot: at once
	var copies [3]depthtest.Book
	for i, c := range []*testClient{every, b1, b2} {
		if ws := applyAll(t, &copies[i], drainAll(c)); len(ws) != 1 || ws[0].Type != "book" {
			t.Fatalf("client %d got %v at the leading edge, want the snapshot", i, ws)
		}
	}
	// Within the slot: 20 updates, among them a level added then removed.
	lv := func(px float64, sz int64) []feed.Level { return []feed.Level{{Price: px, Size: sz}} }
	for i := range 20 {
		var b feed.Book
		switch i {
		case 5, 9: // a bid at 1 (a side may hold 12 here): in at 5, out at 9
			f.g.Seq++
			b = feed.Book{Symbol: "AAPL", Seq: f.g.Seq, TS: depthtest.BaseTS + int64(f.g.Seq), Bids: lv(1, map[int]int64{5: 100, 9: 0}[i])}
			f.g.Bids, _ = booktest.ApplySide(f.g.Bids, b.Bids, true)
		default:
			b = f.g.Update()
		}
		f.put(b, 10*slot+int64(i+1)*1e6)
	}
	late := newTestClient(f.e)
	subscribeBook(t, f.e, late, Policy{MaxRate: 2})
	var lateCopy depthtest.Book
	if ws := applyAll(t, &lateCopy, drainAll(late)); len(ws) != 1 || ws[0].Type != "book" || ws[0].Seq != 21 {
		t.Fatalf("late subscriber got %v, want the book at seq 21", ws)
	}
	f.put(f.g.Update(), 10*slot+30e6) // seq 22: one more, after the late one joined
	if n, _ := b1.Len(); n != 0 {
		t.Fatalf("a rate-limited subscriber has %d messages before the slot ends", n)
	}
	f.sym.shard.flushDue(11 * slot)
	m1, m2 := drainAll(b1), drainAll(b2)
	if len(m1) != 1 || len(m2) != 1 || &m1[0].Data[0] != &m2[0].Data[0] {
		t.Fatalf("the class's subscribers got %d and %d messages, want the same one", len(m1), len(m2))
	}
	ws := applyAll(t, &copies[1], m1)
	applyAll(t, &copies[2], m2)
	if ws[0].Seq != 22 || ws[0].N != 21 || ws[0].Type != "book_update" || ws[0].Checksum != f.g.Checksum() {
		t.Fatalf("merged update %s, want seq 22 n 21 checksum %d", ws[0].Raw, f.g.Checksum())
	}
	if strings.Contains(string(ws[0].Raw), "[1,") {
		t.Fatalf("merged update %s carries the level added and removed within it", ws[0].Raw)
	}
	lateWs := applyAll(t, &lateCopy, drainAll(late))
	if len(lateWs) != 1 || lateWs[0].Type != "book" || lateWs[0].Seq != 22 {
		t.Fatalf("late subscriber got %v at the slot's end, want the book at seq 22", lateWs)
	}
	applyAll(t, &copies[0], drainAll(every))
	for i, c := range append(copies[:], lateCopy) {
		if !c.Equal(f.g.Bids, f.g.Asks) {
			t.Errorf("copy %d: %v | %v, want %v | %v", i, c.Bids, c.Asks, f.g.Bids, f.g.Asks)
		}
	}
	if copies[0].Applied != 22 {
		t.Errorf("the every-update subscriber applied %d messages, want 22", copies[0].Applied)
	}
}

// TestBookLaggingQueueMerge: a client that falls behind has its queued
// updates of a book merged into one by price level (n adding up), while a
// gap notice stays a barrier, and its copy ends equal to the book.
func TestBookLaggingQueueMerge(t *testing.T) {
	t.Parallel()
	f := newBookFixture(t, Config{QueueBytes: 1 << 20, ConflateAt: 4 << 10})
	c := newTestClient(f.e)
	subscribeBook(t, f.e, c, Policy{})
	at := int64(1e9)
	put := func(b feed.Book) { at += 1e6; f.put(b, at) }
	put(f.g.Snapshot())
	for range 200 { // far past conflate_at, never drained
		put(f.g.Update())
	}
	seqBefore := f.g.Seq
	put(feed.Book{Symbol: "AAPL", Seq: f.g.Seq + 3, TS: depthtest.BaseTS + int64(f.g.Seq) + 3}) // seqs skip: a gap, and this update has no book
	f.g.Seq += 3
	put(f.g.Snapshot()) // the book's next snapshot mends it
	for range 100 {
		put(f.g.Update())
	}
	var cp depthtest.Book
	ws := applyAll(t, &cp, drainAll(c))
	var conflated, gapAt, merged int
	for i, m := range ws {
		switch {
		case m.Code == "conflated":
			conflated++
		case m.Code == "gap":
			gapAt = i
			if m.From != seqBefore+1 || m.To != seqBefore+2 {
				t.Errorf("gap notice %s, want %d..%d", m.Raw, seqBefore+1, seqBefore+2)
			}
		case m.N > 1:
			merged++
		}
	}
	if conflated != 1 || gapAt == 0 || merged < 2 || len(ws) > 60 {
		t.Fatalf("%d messages: %d conflated notices, gap at %d, %d merged updates", len(ws), conflated, gapAt, merged)
	}
	if ws[gapAt-1].Seq != seqBefore || ws[gapAt+1].Type != "book" {
		t.Fatalf("around the gap: %s | %s", ws[gapAt-1].Raw, ws[gapAt+1].Raw)
	}
	if !cp.Equal(f.g.Bids, f.g.Asks) || cp.Seq != f.g.Seq {
		t.Fatalf("copy at %d: %v | %v, want %d: %v | %v", cp.Seq, cp.Bids, cp.Asks, f.g.Seq, f.g.Bids, f.g.Asks)
	}
}

// TestBookBadData: an update before any snapshot, one that crosses the
// book and one that leaves a side deeper than BookDepth are dropped,
// counted by reason and logged once per symbol and reason; the book's
// subscriber gets a gap notice and nothing of the bad message, then the
// feed's next snapshot; a bystander on another symbol keeps every seq.
func TestBookBadData(t *testing.T) {
	t.Parallel()
	var logs logtest.Buffer
	f := newBookFixture(t, Config{BookDepth: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	f.g = depthtest.NewGen("AAPL", 3, 9)
	c, bystander := newTestClient(f.e), newTestClient(f.e)
	subscribeBook(t, f.e, c, Policy{})
	mustSubscribe(t, f.e, bystander, "MSFT")
	lv := func(px float64, sz int64) []feed.Level { return []feed.Level{{Price: px, Size: sz}} }
	at := int64(1e9)
	put := func(b feed.Book) { at += 1e6; f.put(b, at); f.msftTick(at) }
	var cp depthtest.Book
	expect := func(what string, codes ...string) {
		t.Helper()
		ws := applyAll(t, &cp, drainAll(c))
		var got []string
		for _, m := range ws {
			got = append(got, m.Code)
		}
		if fmt.Sprint(got) != fmt.Sprint(codes) {
			t.Fatalf("%s: the subscriber got %v, want notices %v", what, ws, codes)
		}
	}
	for round, epoch := range []string{"", "run2"} {
		f.g.Seq, f.g.Epoch = 1, epoch
		put(feed.Book{Symbol: "AAPL", Seq: f.g.Seq, TS: at, Epoch: epoch, Bids: lv(50, 100)}) // before any snapshot
		if round == 0 {
			expect("an update before the snapshot")
		} else {
			expect("a new run's update before its snapshot", "reset")
		}
		put(f.g.Snapshot())
		put(f.g.Update())
		applyAll(t, &cp, drainAll(c))
		f.g.Seq++
		crossing := []feed.Level{{Price: f.g.Bids[0].Price, Size: 100}, {Price: f.g.Asks[len(f.g.Asks)-1].Price}} // within the depth
		put(feed.Book{Symbol: "AAPL", Seq: f.g.Seq, TS: at, Epoch: epoch, Asks: crossing})
		expect("a crossing update", "gap")
		f.g.Seq++
		put(feed.Book{Symbol: "AAPL", Seq: f.g.Seq, TS: at, Epoch: epoch, Bids: lv(1, 0)}) // no book since the gap
		expect("an update after the gap")
		put(f.g.Snapshot())
		applyAll(t, &cp, drainAll(c))
		f.g.Seq++
		put(feed.Book{Symbol: "AAPL", Seq: f.g.Seq, TS: at, Epoch: epoch, Bids: lv(f.g.Bids[len(f.g.Bids)-1].Price-1, 100)})
		expect(fmt.Sprintf("round %d: an update past the depth", round), "gap")
		put(f.g.Snapshot())
		applyAll(t, &cp, drainAll(c))
	}
	if !cp.Equal(f.g.Bids, f.g.Asks) {
		t.Fatalf("copy %v | %v, want %v | %v", cp.Bids, cp.Asks, f.g.Bids, f.g.Asks)
	}
	for why, want := range map[depthDrop]float64{dropNoSnapshot: 4, dropCrossed: 2, dropBeyondDepth: 2} {
		if got := testutil.ToFloat64(f.e.metrics.droppedDepth[depthBook][why]); got != want {
			t.Errorf("%s: %v dropped, want %v", why, got, want)
		}
	}
	for _, why := range []depthDrop{dropNoSnapshot, dropCrossed, dropBeyondDepth} {
		if n := strings.Count(logs.String(), "reason="+why.String()); n != 1 {
			t.Errorf("%s logged %d times, want once:\n%s", why, n, logs.String())
		}
	}
	checkStream(t, drainAll(bystander), "MSFT", f.tick)
}

// TestBookRecovery: since on a book replays exactly the updates missed,
// one by one (for a rate-limited subscription too), each checked by its
// checksum against a copy that stopped at since; a since from another
// epoch, from before the ring, or while the book is lost since a gap is
// answered with a snapshot instead (the book, or none while lost).
func TestBookRecovery(t *testing.T) {
	t.Parallel()
	f := newBookFixture(t, Config{History: 20})
	f.g.Epoch = "run1"
	first := newTestClient(f.e)
	subscribeBook(t, f.e, first, Policy{})
	at := int64(1e9)
	put := func(b feed.Book) { at += 1e6; f.put(b, at) }
	put(f.g.Snapshot())
	for range 30 {
		put(f.g.Update())
	}
	var full, at25 depthtest.Book
	for _, m := range decodeWire(t, drainAll(first)) {
		if err := full.Apply(m); err != nil {
			t.Fatal(err)
		}
		if m.Seq == 25 {
			at25 = depthtest.Book{Bids: append([]feed.Level(nil), full.Bids...), Asks: append([]feed.Level(nil), full.Asks...), Seq: 25, Valid: true}
		}
	}
	for _, rate := range []float64{0, 1} {
		c := newTestClient(f.e)
		res, err := f.e.Subscribe(c.Client, []string{"AAPL"}, Policy{Stream: Book, MaxRate: rate, Since: map[string]Position{"AAPL": {25, "run1"}}}, nil)
		if err != nil || len(res.Recovered) != 1 {
			t.Fatalf("max_rate %g: since 25: %+v %v, want recovered", rate, res, err)
		}
		cp := at25
		cp.Bids, cp.Asks = append([]feed.Level(nil), at25.Bids...), append([]feed.Level(nil), at25.Asks...)
		if ws := applyAll(t, &cp, drainAll(c)); len(ws) != 6 || !cp.Equal(f.g.Bids, f.g.Asks) {
			t.Fatalf("max_rate %g: recovered %d messages, copy %v | %v", rate, len(ws), cp.Bids, cp.Asks)
		}
	}
	snapshotOf := func(what string, since Position, wantBook bool) {
		t.Helper()
		c := newTestClient(f.e)
		res, err := f.e.Subscribe(c.Client, []string{"AAPL"}, Policy{Stream: Book, Since: map[string]Position{"AAPL": since}}, nil)
		if err != nil || len(res.Snapshot) != 1 {
			t.Fatalf("%s: %+v %v, want a snapshot", what, res, err)
		}
		ws := decodeWire(t, drainAll(c))
		if got := len(ws) == 1 && ws[0].Type == "book" && ws[0].Seq == f.g.Seq; got != wantBook || (!wantBook && len(ws) != 0) {
			t.Fatalf("%s: got %v", what, ws)
		}
	}
	snapshotOf("another epoch", Position{25, "run0"}, true)
	snapshotOf("before the ring", Position{5, "run1"}, true)
	f.g.Seq++ // lost upstream
	put(f.g.Update())
	snapshotOf("lost since a gap, at the last update taken", Position{31, "run1"}, false)
}

// TestBookZeroAlloc guards the book's delivery path: an update to 1000
// subscribers, to 1000 rate-limited ones merging it into their class's
// held update, and to lagging clients merging it into their queued one,
// allocates nothing once warm (arena blocks aside: see below).
func TestBookZeroAlloc(t *testing.T) {
	const runs = 50
	f := newBookFixture(t, Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20, RateClasses: []float64{1}, RatePhases: 1, History: 64})
	var clients []*testClient
	for i := range 2000 {
		c := newTestClient(f.e)
		subscribeBook(t, f.e, c, Policy{MaxRate: float64(i % 2)})
		clients = append(clients, c)
	}
	lagging := make([]*testClient, 10)
	for i := range lagging {
		lagging[i] = &testClient{Client: f.e.NewClient(func(*Client) {})}
		lagging[i].q.conflateAt, lagging[i].q.lowWater = 1, 0 // conflating from its first message
		subscribeBook(t, f.e, lagging[i], Policy{})
	}
	updates := []feed.Book{f.g.Snapshot()}
	for range 6 * (runs + 1) {
		updates = append(updates, f.g.Update())
	}
	next, slot := 0, int64(0)
	batch := make([]inTick, 1)
	deliver := func() { // three updates in a slot of the 1/s class, merged, then its end
		slot++
		for i := range 3 {
			d := f.e.free.get()
			d.kind, d.book = depthBook, updates[next]
			next++
			batch[0] = inTick{sym: f.sym, op: opDepth, depth: d}
			f.sym.shard.deliver(batch, slot*1e9+int64(i)*1e6)
		}
		f.sym.shard.flushDue((slot + 1) * 1e9)
	}
	for range runs + 1 { // warm up: spans, queues, the pool
		deliver()
	}
	for _, c := range clients {
		c.Drain(nil, 1<<30)
	}
	// The one allocation of the path is a block: of the book's log, once
	// per block's worth of updates, and of the shard's arena, for each
	// slot's merged update. Give each one block large enough for the
	// runs, so none straddles one. A lagging client's merged update takes
	// neither: it is encoded when its queue is drained.
	f.sym.shard.arena.renewFor(1 << 20)
	lg := &f.sym.book.log
	buf, _ := lg.start(f.sym.shard, f.sym.topics[Book], 1<<20)
	lg.cut(buf)
	allocs := testing.AllocsPerRun(runs, deliver)
	if allocs != 0 {
		t.Fatalf("a book update to 2000 subscribers and 10 lagging ones: %v allocs, want 0", allocs)
	}
	if n, _ := lagging[0].Len(); n != 4 { // epoch notice, snapshot, conflated notice, the merged update
		t.Fatalf("a lagging client holds %d messages, want 4: its updates merged", n)
	}
	if n, _ := clients[0].Len(); n != 3*(runs+1) {
		t.Fatalf("an every-update subscriber holds %d messages, want %d", n, 3*(runs+1))
	}
	if n, _ := clients[1].Len(); n != runs+1 { // the slot before sent at its end: each slot's three merge
		t.Fatalf("a rate-limited subscriber holds %d messages, want %d", n, runs+1)
	}
}

// TestBookDelayed: the delayed tier delays books like ticks: the twin's
// subscriber gets the book Delay after each message's feed time, marked
// "delayed", with the same checksums; past the delay line's byte bound
// held books merge by the book's rules, and the twin's copy still ends
// equal to the feed's book.
func TestBookDelayed(t *testing.T) {
	t.Parallel()
	for _, maxBytes := range []int{256 << 20, 3000} {
		f := newBookFixture(t, Config{Delay: time.Second, DelayMaxBytes: maxBytes})
		c := newTestClient(f.e)
		subscribeBook(t, f.e, c, Policy{Delayed: true})
		at := depthtest.BaseTS
		f.put(f.g.Snapshot(), at)
		for range 200 {
			f.put(f.g.Update(), at)
			f.msftTick(at) // ticks of another symbol share the line
		}
		if n, _ := c.Len(); n != 0 {
			t.Fatalf("max %d: the delayed subscriber holds %d messages before the delay", maxBytes, n)
		}
		f.sym.shard.flushDue(at + int64(time.Second) + int64(f.g.Seq) + 1e8)
		var cp depthtest.Book
		ws := applyAll(t, &cp, drainAll(c))
		merged := 0
		for _, m := range ws {
			if m.Type == "book_update" && !m.Delayed {
				t.Fatalf("max %d: %s is not marked delayed", maxBytes, m.Raw)
			}
			if m.N > 1 {
				merged++
			}
		}
		if !cp.Equal(f.g.Bids, f.g.Asks) || cp.Seq != f.g.Seq {
			t.Fatalf("max %d: delayed copy at %d: %v | %v, want %v | %v", maxBytes, cp.Seq, cp.Bids, cp.Asks, f.g.Bids, f.g.Asks)
		}
		if (merged > 0) != (maxBytes < 1<<20) {
			t.Fatalf("max %d: %d merged updates of %d messages", maxBytes, merged, len(ws))
		}
	}
}

// TestBookHistoryUnderBudget: a book's history is kept under the memory
// budget like a tick's: its records and the bytes of its log together
// stay within the share (checkBudget after each message), the least
// recently subscribed book's history goes first, and a since behind what
// was released is answered with the book's snapshot; the log lets its
// blocks go as its records leave.
func TestBookHistoryUnderBudget(t *testing.T) {
	t.Parallel()
	cfg := Config{Shards: 1, History: 256}
	cfg.MemoryBudget = listedBytes(cfg, "AAPL", "MSFT") + 2*bookStateBytes(10) + 64<<10 // BookDepth 10
	e, _ := newEngine(t, cfg, "AAPL", "MSFT")
	gens := map[string]*depthtest.Gen{"AAPL": depthtest.NewGen("AAPL", 10, 1), "MSFT": depthtest.NewGen("MSFT", 10, 2)}
	held := newTestClient(e)
	if _, err := e.Subscribe(held.Client, []string{"MSFT"}, Policy{Stream: Book}, nil); err != nil {
		t.Fatal(err)
	}
	at := int64(0)
	put := func(b feed.Book) {
		at++
		e.lookup(b.Symbol).shard.deliver([]inTick{{sym: e.lookup(b.Symbol), op: opDepth, depth: &inDepth{kind: depthBook, book: b}}}, at)
		checkBudget(t, e)
	}
	for _, sym := range []string{"AAPL", "MSFT"} {
		put(gens[sym].Snapshot())
	}
	for range 600 {
		put(gens["AAPL"].Update())
		put(gens["MSFT"].Update())
	}
	drainAll(held)
	aapl, msft := e.lookup("AAPL").topics[Book], e.lookup("MSFT").topics[Book]
	if msft.kept.n < 4*aapl.kept.n || msft.kept.n < 64 {
		t.Fatalf("the held book keeps %d records, the other %d: want the other's history gone first", msft.kept.n, aapl.kept.n)
	}
	if lg := &e.lookup("AAPL").book.log; lg.bytes > 2*maxBookBlock {
		t.Fatalf("the other book's log holds %d bytes in %d blocks for %d records", lg.bytes, len(lg.blocks), aapl.kept.n)
	}
	if got := testutil.ToFloat64(e.metrics.evicted[keptBooks]); got == 0 {
		t.Fatal("no book records evicted")
	}
	c := newTestClient(e)
	res, err := e.Subscribe(c.Client, []string{"AAPL"}, Policy{Stream: Book, Since: map[string]Position{"AAPL": {gens["AAPL"].Seq - 100, feed.DefaultEpoch}}}, nil)
	if err != nil || len(res.Snapshot) != 1 {
		t.Fatalf("since behind the released history: %+v %v, want snapshot", res, err)
	}
	var cp depthtest.Book
	if ws := applyAll(t, &cp, drainAll(c)); len(ws) != 1 || !cp.Equal(gens["AAPL"].Bids, gens["AAPL"].Asks) {
		t.Fatalf("snapshot %v", ws)
	}
	since := gens["MSFT"].Seq - uint64(msft.kept.n-1)
	res, err = e.Subscribe(newTestClient(e).Client, []string{"MSFT"}, Policy{Stream: Book, Since: map[string]Position{"MSFT": {since, feed.DefaultEpoch}}}, nil)
	if err != nil || len(res.Recovered) != 1 {
		t.Fatalf("since %d within the held book's history: %+v %v, want recovered", since, res, err)
	}
}
