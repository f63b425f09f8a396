package subscribe

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/depthtest"
	"github.com/tickgate/tickgate/internal/ssetest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// putBooks publishes books and waits until the engine has taken them all
// (tickgate_feed_books_total counts what the shards delivered).
func (e *testEnv) putBooks(books ...feed.Book) {
	e.t.Helper()
	e.mu.Lock()
	for _, b := range books {
		e.books++
		e.engine.PublishBook(b)
	}
	want := float64(e.books)
	e.mu.Unlock()
	e.waitTaken("tickgate_feed_books_total", want)
}

// bookReader applies every book message c receives for sym to a client's
// copy, checking seqs and checksums, until the copy reaches seq.
func readBook(tb testing.TB, c *wstest.Client, b *depthtest.Book, sym string, seq uint64) {
	tb.Helper()
	for b.Seq < seq || !b.Valid {
		m := c.Next()
		if m.Sym != sym || m.Type == "subscribed" {
			continue
		}
		if err := b.Apply(m); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestBookOverSocket: a book subscriber from before the first book gets
// the feed's snapshot, then every update, each with the checksum of the
// book after it; one that subscribes later gets the book as a snapshot
// first. Both copies end equal to the feed's book.
func TestBookOverSocket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	early := e.dial("")
	early.Send(`{"op":"subscribe","id":1,"stream":"book","symbols":["AAPL"]}`)
	if r := expectReply(early, "subscribed", 1); r.Stream != "book" {
		t.Fatalf("reply %s", r.Raw)
	}
	g := depthtest.NewGen("AAPL", 10, 1)
	books := []feed.Book{g.Snapshot()}
	for range 50 {
		books = append(books, g.Update())
	}
	e.putBooks(books...)
	var a depthtest.Book
	readBook(t, early, &a, "AAPL", g.Seq)
	if !a.Equal(g.Bids, g.Asks) || a.Applied != 51 {
		t.Fatalf("early copy after %d messages: %v | %v, want %v | %v", a.Applied, a.Bids, a.Asks, g.Bids, g.Asks)
	}

	late := e.dial("")
	late.Send(`{"op":"subscribe","id":2,"stream":"book","symbols":["AAPL"]}`)
	expectReply(late, "subscribed", 2)
	snap := late.Next()
	if snap.Type != "book" || snap.Seq != g.Seq {
		t.Fatalf("late subscriber's first message %s, want the book at seq %d", snap.Raw, g.Seq)
	}
	var b depthtest.Book
	if err := b.Apply(snap); err != nil {
		t.Fatal(err)
	}
	more := []feed.Book{g.Update(), g.Update()}
	e.putBooks(more...)
	readBook(t, late, &b, "AAPL", g.Seq)
	readBook(t, early, &a, "AAPL", g.Seq)
	if !a.Equal(g.Bids, g.Asks) || !b.Equal(g.Bids, g.Asks) {
		t.Fatalf("copies %v | %v and %v | %v, want %v | %v", a.Bids, a.Asks, b.Bids, b.Asks, g.Bids, g.Asks)
	}
}

// bookCopies is one client's copies of the books it subscribes to,
// applied message by message (depthtest.Book checks seqs and checksums),
// with the delivery notices it got and the merged updates it applied.
type bookCopies struct {
	books   map[string]*depthtest.Book
	notices []string // conflated, live, ...
	merged  int      // updates with n > 1
	msgs    int
}

func newBookCopies(syms ...string) *bookCopies {
	bc := &bookCopies{books: map[string]*depthtest.Book{}}
	for _, s := range syms {
		bc.books[s] = new(depthtest.Book)
	}
	return bc
}

// add applies m, a message of the book stream or a delivery notice.
func (bc *bookCopies) add(m msg) error {
	switch {
	case m.Type == "notice" && (m.Code == "conflated" || m.Code == "live"):
		want := "conflated"
		if len(bc.notices)%2 == 1 {
			want = "live"
		}
		if m.Code != want {
			return fmt.Errorf("notice %q after %q", m.Code, bc.notices)
		}
		bc.notices = append(bc.notices, m.Code)
		return nil
	case m.Type == "subscribed":
		return nil
	}
	b, ok := bc.books[m.Sym]
	if !ok {
		return fmt.Errorf("a message of %q, not subscribed: %s", m.Sym, m.Raw)
	}
	if m.N > 1 {
		bc.merged++
	}
	bc.msgs++
	return b.Apply(m)
}

// readBooks reads c (either transport) until each symbol's copy reaches
// the seq want names.
func readBooks(c msgReader, bc *bookCopies, want map[string]uint64) error {
	for {
		done := true
		for sym, seq := range want {
			done = done && bc.books[sym].Valid && bc.books[sym].Seq >= seq
		}
		if done {
			return nil
		}
		m, err := c.Read()
		if err != nil {
			return fmt.Errorf("stuck before %v: %w", want, err)
		}
		if err := bc.add(m); err != nil {
			return err
		}
	}
}

// checkCopies fails unless every copy holds its Gen's book.
func checkCopies(tb testing.TB, who string, bc *bookCopies, gens map[string]*depthtest.Gen) {
	tb.Helper()
	for sym, g := range gens {
		if b := bc.books[sym]; !b.Equal(g.Bids, g.Asks) || b.Seq != g.Seq {
			tb.Fatalf("%s: %s copy at %d: %v | %v, want %d: %v | %v", who, sym, b.Seq, b.Bids, b.Asks, g.Seq, g.Bids, g.Asks)
		}
	}
}

// TestBookExactThroughMaxRate, a property over real sockets: for random
// book sequences of two symbols, fed in bursts and pauses, clients at
// random max_rates (and one taking every update) apply every message
// they get and check every checksum; each copy ends equal to the feed's
// book, and the rate-limited ones got merged updates.
func TestBookExactThroughMaxRate(t *testing.T) {
	t.Parallel()
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 3))
			e := newTestEnv(t, Config{}, fanout.Config{})
			syms := []string{"AAPL", "MSFT"}
			gens := map[string]*depthtest.Gen{"AAPL": depthtest.NewGen("AAPL", 10, seed), "MSFT": depthtest.NewGen("MSFT", 1+rng.IntN(10), seed+100)}
			rates := []float64{0, 1, 4, []float64{2, 5, 10, 20}[rng.IntN(4)]}
			clients := make([]*wstest.Client, len(rates))
			copies := make([]*bookCopies, len(rates))
			for i, r := range rates {
				clients[i] = e.dial("")
				clients[i].Send(fmt.Sprintf(`{"op":"subscribe","id":1,"stream":"book","symbols":["AAPL","MSFT"],"max_rate":%g}`, r))
				expectReply(clients[i], "subscribed", 1)
				copies[i] = newBookCopies(syms...)
			}
			var books []feed.Book
			for _, sym := range syms {
				books = append(books, gens[sym].Snapshot())
			}
			for range 600 {
				books = append(books, gens[syms[rng.IntN(2)]].Update())
			}
			for i := 0; i < len(books); {
				burst := 1 + rng.IntN(40)
				e.putBooks(books[i:min(i+burst, len(books))]...)
				i += burst
				time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
			}
			want := map[string]uint64{"AAPL": gens["AAPL"].Seq, "MSFT": gens["MSFT"].Seq}
			for i, c := range clients {
				if err := readBooks(c, copies[i], want); err != nil {
					t.Fatalf("max_rate %g: %v", rates[i], err)
				}
				checkCopies(t, fmt.Sprint("max_rate ", rates[i]), copies[i], gens)
				if r := rates[i]; (r > 0) != (copies[i].merged > 0) || (r > 0 && copies[i].msgs >= len(books)) {
					t.Fatalf("max_rate %g: %d messages for %d books, %d merged", r, copies[i].msgs, len(books), copies[i].merged)
				}
				t.Logf("max_rate %g: %d messages for %d books, %d merged", rates[i], copies[i].msgs, len(books), copies[i].merged)
			}
		})
	}
}

// TestBookSlowReaderExact: a book client on a slow link falls behind
// beside one that keeps up and a ticks bystander: it is conflated (its
// queued updates merged per price level), never dropped, reads its way
// back to live (once it has kept up for ten times max_staleness), and its
// copy is exact throughout; the others see every seq and no notice.
func TestBookSlowReaderExact(t *testing.T) {
	t.Parallel()
	syms := []string{"AAPL", "MSFT"}
	e := newTestEnv(t, Config{WriteTimeout: time.Minute, MaxStaleness: 100 * time.Millisecond}, fanout.Config{QueueBytes: 1 << 20, ConflateAt: 16 << 10})
	gens := map[string]*depthtest.Gen{"AAPL": depthtest.NewGen("AAPL", 10, 5), "MSFT": depthtest.NewGen("MSFT", 10, 6)}
	sub := func(c *wstest.Client) {
		c.Send(`{"op":"subscribe","id":1,"stream":"book","symbols":["AAPL","MSFT"]}`)
	}
	fast := e.dial("")
	sub(fast)
	by := e.dialSubscribed("NVDA")
	slow := e.dialSlow("")
	sub(slow)
	fastCp, slowCp := newBookCopies(syms...), newBookCopies(syms...)
	byTr := newSeqTracker()
	e.putBooks(gens["AAPL"].Snapshot(), gens["MSFT"].Snapshot())
	want := map[string]uint64{}
	round := func() {
		t.Helper()
		var books []feed.Book
		for range 20 {
			for _, sym := range syms {
				books = append(books, gens[sym].Update())
				want[sym] = gens[sym].Seq
			}
		}
		e.putBooks(books...)
		e.publish("NVDA", 5)
		if err := readBooks(fast, fastCp, want); err != nil {
			t.Fatalf("fast client: %v", err)
		}
		if err := readUntil(by, byTr, map[string]uint64{"NVDA": e.seq["NVDA"]}); err != nil {
			t.Fatalf("bystander: %v", err)
		}
	}
	checkFor(t, 20*time.Second, func() error { // the slow client reads nothing until it conflates
		round()
		if got := gathered(t, e.reg, "tickgate_degraded_clients"); got != 1 {
			return fmt.Errorf("degraded clients %v", got)
		}
		return nil
	})
	slow.FrameDelay.Store(int64(20 * time.Millisecond)) // then reads slowly
	slow.ReadAhead()
	for range 10 {
		round()
	}
	slow.FrameDelay.Store(0) // and fast again
	if err := readBooks(slow, slowCp, want); err != nil {
		t.Fatalf("slow client: %v", err)
	}
	// Caught up: once it has kept up for a second, with books to write,
	// the live notice follows.
	checkFor(t, 20*time.Second, func() error {
		round()
		if err := readBooks(slow, slowCp, want); err != nil {
			t.Fatalf("slow client: %v", err)
		}
		if len(slowCp.notices)%2 == 1 {
			return fmt.Errorf("notices %q", slowCp.notices)
		}
		return nil
	})
	round()
	if err := readBooks(slow, slowCp, want); err != nil {
		t.Fatalf("slow client after live: %v", err)
	}
	checkCopies(t, "slow", slowCp, gens)
	checkCopies(t, "fast", fastCp, gens)
	if slowCp.merged == 0 || len(slowCp.notices) == 0 || slowCp.notices[len(slowCp.notices)-1] != "live" {
		t.Fatalf("slow client: notices %q, %d merged updates", slowCp.notices, slowCp.merged)
	}
	t.Logf("slow client: %d messages, %d merged, notices %q", slowCp.msgs, slowCp.merged, slowCp.notices)
	if got := gathered(t, e.reg, "tickgate_slow_consumers_total"); got != 0 {
		t.Fatalf("slow_consumers_total %v, want 0: conflate, not drop", got)
	}
	if fastCp.merged != 0 || len(fastCp.notices) != 0 || byTr.merged != 0 || len(byTr.notices) != 0 {
		t.Fatalf("the fast client (%d merged, %q) or the bystander (%d, %q) was conflated", fastCp.merged, fastCp.notices, byTr.merged, byTr.notices)
	}
}

// runSource runs src into e's engine until the test ends: the books and
// status reach the engine through feed.DepthSink, as from a real feed.
func (e *testEnv) runSource(src *depthtest.Source) func(m any) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, e.engine) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("source: %v", err)
		}
	})
	return func(m any) {
		e.t.Helper()
		if err := src.Send(ctx, m); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestBookRecoveryAndRestart, over sockets with a feed.Source: a client
// that reconnects with since gets exactly the book updates it missed,
// each checked; a publisher restart (a new epoch) sends the connected
// client reset (stream book), then the new run's book; a client coming
// back with a position of the old run gets the new book as a snapshot.
func TestBookRecoveryAndRestart(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 64})
	send := e.runSource(depthtest.NewSource("AAPL"))
	g := depthtest.NewGen("AAPL", 10, 11)
	g.Epoch = "run1"
	sendAll := func(books ...feed.Book) {
		for _, b := range books {
			send(b)
		}
	}
	stay, away := e.dial(""), e.dial("")
	for _, c := range []*wstest.Client{stay, away} {
		c.Send(`{"op":"subscribe","id":1,"stream":"book","symbols":["AAPL"]}`)
		expectReply(c, "subscribed", 1)
	}
	stayCp, awayCp := newBookCopies("AAPL"), newBookCopies("AAPL")
	sendAll(g.Snapshot())
	for range 30 {
		sendAll(g.Update())
	}
	for _, p := range []struct {
		c  *wstest.Client
		cp *bookCopies
	}{{stay, stayCp}, {away, awayCp}} {
		if err := readBooks(p.c, p.cp, map[string]uint64{"AAPL": g.Seq}); err != nil {
			t.Fatal(err)
		}
	}
	away.Conn.CloseNow()
	left := g.Seq
	for range 20 { // missed while away
		sendAll(g.Update())
	}
	back := e.dial("")
	back.Send(fmt.Sprintf(`{"op":"subscribe","id":2,"stream":"book","symbols":["AAPL"],"since":{"AAPL":{"seq":%d,"epoch":"run1"}}}`, left))
	if r := expectReply(back, "subscribed", 2); len(r.Recovered) != 1 || r.Epochs["AAPL"] != "run1" {
		t.Fatalf("since %d: %s, want recovered", left, r.Raw)
	}
	awayCp.msgs = 0
	if err := readBooks(back, awayCp, map[string]uint64{"AAPL": g.Seq}); err != nil {
		t.Fatal(err)
	}
	if awayCp.msgs != 20 {
		t.Fatalf("recovered %d messages, want the 20 missed", awayCp.msgs)
	}
	checkCopies(t, "recovered", awayCp, map[string]*depthtest.Gen{"AAPL": g})
	oldRun := g.Seq
	back.Conn.CloseNow()
	if err := readBooks(stay, stayCp, map[string]uint64{"AAPL": g.Seq}); err != nil {
		t.Fatal(err)
	}

	// The publisher restarts: a new epoch, seqs from 1, and a book of its
	// own (a fresh snapshot, then updates).
	g.Epoch, g.Seq = "run2", 0
	sendAll(g.Snapshot())
	for range 10 {
		sendAll(g.Update())
	}
	if m := stay.Next(); m.Code != "reset" || m.Stream != "book" || m.Epoch != "run2" {
		t.Fatalf("after the restart: %s, want reset (stream book, epoch run2)", m.Raw)
	}
	stayCp.books["AAPL"].Valid = false
	if err := readBooks(stay, stayCp, map[string]uint64{"AAPL": g.Seq}); err != nil {
		t.Fatal(err)
	}
	checkCopies(t, "through the restart", stayCp, map[string]*depthtest.Gen{"AAPL": g})
	again := e.dial("")
	again.Send(fmt.Sprintf(`{"op":"subscribe","id":3,"stream":"book","symbols":["AAPL"],"since":{"AAPL":{"seq":%d,"epoch":"run1"}}}`, oldRun))
	if r := expectReply(again, "subscribed", 3); len(r.Snapshot) != 1 || r.Epochs["AAPL"] != "run2" {
		t.Fatalf("a position of the old run: %s, want snapshot in run2", r.Raw)
	}
	againCp := newBookCopies("AAPL")
	if err := readBooks(again, againCp, map[string]uint64{"AAPL": g.Seq}); err != nil {
		t.Fatal(err)
	}
	checkCopies(t, "back after the restart", againCp, map[string]*depthtest.Gen{"AAPL": g})
}

// TestBookBadDataOverSocket: bad books from the feed (an update before
// any snapshot, one crossing the book, one past the depth) never reach a
// client: the book's subscriber gets a gap notice and then the feed's
// next snapshot, each counted by reason; a bystander on another book and
// on ticks keeps every seq.
func TestBookBadDataOverSocket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{BookDepth: 4})
	send := e.runSource(depthtest.NewSource("AAPL", "MSFT"))
	a, m := depthtest.NewGen("AAPL", 4, 21), depthtest.NewGen("MSFT", 4, 22)
	c, by, byTicks := e.dial(""), e.dial(""), e.dial("?symbols=NVDA")
	expectReply(byTicks, "subscribed", 0)
	c.Send(`{"op":"subscribe","id":1,"stream":"book","symbols":["AAPL"]}`)
	by.Send(`{"op":"subscribe","id":2,"stream":"book","symbols":["MSFT"]}`)
	expectReply(c, "subscribed", 1)
	expectReply(by, "subscribed", 2)
	lv := func(px float64, sz int64) []feed.Level { return []feed.Level{{Price: px, Size: sz}} }
	bad := func(b feed.Book) {
		a.Seq++
		b.Symbol, b.Seq, b.TS = "AAPL", a.Seq, depthtest.BaseTS+int64(a.Seq)
		send(b)
	}
	bad(feed.Book{Bids: lv(50, 100)}) // no snapshot yet
	send(a.Snapshot())
	send(m.Snapshot())
	bad(feed.Book{Asks: []feed.Level{{Price: a.Bids[0].Price, Size: 1}, {Price: a.Asks[len(a.Asks)-1].Price}}}) // crosses
	send(a.Snapshot())
	bad(feed.Book{Bids: lv(a.Bids[len(a.Bids)-1].Price-1, 100)}) // a fifth bid
	send(a.Snapshot())
	for range 5 {
		send(a.Update())
		send(m.Update())
	}
	e.publish("NVDA", 20)

	cp, byCp := newBookCopies("AAPL"), newBookCopies("MSFT")
	var gaps []string
	for !cp.books["AAPL"].Valid || cp.books["AAPL"].Seq < a.Seq {
		msg := c.Next()
		if msg.Code == "gap" {
			gaps = append(gaps, fmt.Sprintf("%d..%d", msg.From, msg.To))
		}
		if err := cp.add(msg); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(msg.Raw), "[50,") {
			t.Fatalf("a bad level reached the client: %s", msg.Raw)
		}
	}
	checkCopies(t, "AAPL", cp, map[string]*depthtest.Gen{"AAPL": a})
	if fmt.Sprint(gaps) != "[3..3 5..5]" {
		t.Fatalf("gap notices %v, want the crossing update (3) and the one past the depth (5)", gaps)
	}
	if err := readBooks(by, byCp, map[string]uint64{"MSFT": m.Seq}); err != nil {
		t.Fatal(err)
	}
	checkCopies(t, "bystander", byCp, map[string]*depthtest.Gen{"MSFT": m})
	expectTicks(byTicks, "NVDA", 0, 20)
	for reason, want := range map[string]float64{"no_snapshot": 1, "crossed": 1, "beyond_depth": 1} {
		if got := gatheredLabel(t, e, "tickgate_feed_dropped_books_total", reason); got != want {
			t.Errorf("dropped books %s: %v, want %v", reason, got, want)
		}
	}
}

// TestStatusOverSocket: a status subscriber gets open with the symbol's
// first tick, the feed's halt with its reason, open again, and, with no
// tick for status.stale_after, stale, never earlier than that; its next
// tick brings open back. A subscriber that comes later gets the current
// status first.
func TestStatusOverSocket(t *testing.T) {
	t.Parallel()
	const staleAfter = 300 * time.Millisecond
	e := newTestEnv(t, Config{}, fanout.Config{StaleAfter: staleAfter})
	send := e.runSource(depthtest.NewSource("AAPL"))
	c := e.dial("")
	c.Send(`{"op":"subscribe","id":1,"stream":"status","symbols":["AAPL"]}`)
	expectReply(c, "subscribed", 1)
	expectStatus := func(c *wstest.Client, want string) msg {
		t.Helper()
		m := c.Next()
		got := m.Status + "/" + m.Reason
		if m.Type != "status" || got != want {
			t.Fatalf("got %s, want status %s", m.Raw, want)
		}
		return m
	}
	e.publish("AAPL", 1)
	expectStatus(c, "open/")
	send(feed.Status{Symbol: "AAPL", Status: feed.StatusHalted, Reason: "LUDP", Seq: 1, TS: time.Now().UnixNano()})
	expectStatus(c, "halted/LUDP")
	late := e.dial("")
	late.Send(`{"op":"subscribe","id":2,"stream":"status","symbols":["AAPL"]}`)
	expectReply(late, "subscribed", 2)
	expectStatus(late, "halted/LUDP")
	send(feed.Status{Symbol: "AAPL", Status: feed.StatusOpen, Seq: 2, TS: time.Now().UnixNano()})
	expectStatus(c, "open/")
	lastTick := time.Now() // no later than the engine takes the tick
	e.publish("AAPL", 1)
	if m := expectStatus(c, "stale/"); time.Since(lastTick) < staleAfter || m.Seq != 2 {
		t.Fatalf("stale %v after the last tick (want at least %v), seq %d (want the feed's 2)", time.Since(lastTick), staleAfter, m.Seq)
	}
	e.publish("AAPL", 1)
	expectStatus(c, "open/")
}

// TestBookOverSSE: the book stream over Server-Sent Events: every message
// applies with its checksum, each event's id carries the book's position,
// and a reconnect with Last-Event-ID gets exactly the updates missed.
func TestBookOverSSE(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 256})
	g := depthtest.NewGen("AAPL", 10, 31)
	c := e.dialSSE("?stream=book&symbols=AAPL", ssetest.Options{})
	expectReply(c, "subscribed", 0)
	e.putBooks(g.Snapshot())
	for range 30 {
		e.putBooks(g.Update())
	}
	cp := newBookCopies("AAPL")
	if err := readBooks(c, cp, map[string]uint64{"AAPL": g.Seq}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	id, left := c.LastID, g.Seq
	if since, err := parseEventID(id); err != nil || since["AAPL"].Seq != left {
		t.Fatalf("last event id %q (%v), want AAPL at %d", id, err, left)
	}
	for range 20 {
		e.putBooks(g.Update())
	}
	c2 := e.dialSSE("?stream=book&symbols=AAPL", ssetest.Options{Header: http.Header{"Last-Event-Id": {id}}})
	if r := expectReply(c2, "subscribed", 0); !slices.Equal(r.Recovered, []string{"AAPL"}) {
		t.Fatalf("reply %s, want AAPL recovered", r.Raw)
	}
	cp.msgs = 0
	if err := readBooks(c2, cp, map[string]uint64{"AAPL": g.Seq}); err != nil {
		t.Fatal(err)
	}
	if cp.msgs != 20 {
		t.Fatalf("recovered %d messages, want the 20 missed", cp.msgs)
	}
	checkCopies(t, "over SSE", cp, map[string]*depthtest.Gen{"AAPL": g})
}
