package replay

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/booktest"
)

// sampleBook is a recording of the simulator with books and halts
// (TestGenerateSampleBook): 2 symbols, depth 5, one halt and reopening.
const sampleBook = "testdata/sample_book.ndjson"

// fileKinds counts the lines of each type in the NDJSON file at path.
func fileKinds(tb testing.TB, path string) map[string]int {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	n := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		n[sniffType([]byte(line))]++
	}
	return n
}

// playInto runs f's source to its end, at most 10s, into sink.
func (f *fixture) playInto(tb testing.TB, sink feed.Sink) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.src.Run(ctx, sink); err != nil || ctx.Err() != nil {
		tb.Fatalf("Run = %v, %v; want the file played within 10s", err, ctx.Err())
	}
}

// TestSampleBook replays the sample with books and a halt into a receiver
// that applies every book message and checks every promise of a feed
// (booktest.Receiver): each book is valid and never crossed, each trade at
// the touch its book shows, none while halted. Every message is played,
// in the replay's epoch, with its recorded ts.
func TestSampleBook(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Path: sampleBook, Fast: true, Timestamps: TimestampsRecorded})
	r := booktest.NewReceiver(5)
	var firstBookTS int64
	r.OnBook = func(m feed.Book, _ *booktest.Book) error {
		if firstBookTS == 0 {
			firstBookTS = m.TS
		}
		if m.Epoch != f.src.Epoch() {
			return fmt.Errorf("book %s seq %d of epoch %q, want the replay's %q", m.Symbol, m.Seq, m.Epoch, f.src.Epoch())
		}
		return nil
	}
	f.playInto(t, r)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	kinds := fileKinds(t, sampleBook)
	if r.N.Ticks != kinds["tick"] || r.N.Books != kinds["book"]+kinds["book_update"] || r.N.Snapshots != kinds["book"] || r.N.Status != kinds["status"] {
		t.Fatalf("played %+v, the file has %v", r.N, kinds)
	}
	if r.N.Halts == 0 || r.N.Snapshots < 2 {
		t.Fatalf("played %+v: the sample should hold a snapshot per symbol and a halt", r.N)
	}
	for sym, st := range r.Status {
		if st.Epoch != f.src.Epoch() || st.Status != feed.StatusOpen {
			t.Errorf("%s ends %+v, want open in the replay's epoch", sym, st)
		}
	}
	if want := int64(1732470000000000000); firstBookTS != want {
		t.Errorf("first book ts %d, want the recorded %d", firstBookTS, want)
	}
	if n := refusedTotal(t, f.reg); n != 0 {
		t.Errorf("%v refused lines in a clean file", n)
	}
}

// TestSampleBookLoop plays the sample three times: each kind's seqs carry
// on across plays in one epoch, each play's snapshots replacing the books,
// and the receiver finds every promise kept throughout.
func TestSampleBookLoop(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Config{Path: sampleBook, Fast: true, Loop: true})
	ticks := fileKinds(t, sampleBook)["tick"]
	r := booktest.NewReceiver(5)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sink := &stopAfter{Receiver: r, n: 3 * ticks, stop: cancel}
	if err := f.src.Run(ctx, sink); err != nil || r.N.Ticks != 3*ticks {
		t.Fatalf("Run = %v after %d ticks, want %d", err, r.N.Ticks, 3*ticks)
	}
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	file := f.src.file
	for i, sym := range file.names {
		// The third play's last book message is the file's last, raised
		// past two plays.
		if want := 3 * file.maxSeq[feed.KindBook][i]; r.Books[sym].Seq != want {
			t.Errorf("%s book seq %d after three plays, want %d", sym, r.Books[sym].Seq, want)
		}
	}
}

// stopAfter is a Receiver that cancels a run after n ticks and takes
// nothing after them.
type stopAfter struct {
	*booktest.Receiver
	n    int
	stop context.CancelFunc
}

func (s *stopAfter) Publish(t feed.Tick) {
	if s.N.Ticks < s.n {
		if s.Receiver.Publish(t); s.N.Ticks == s.n {
			s.stop()
		}
	}
}

func (s *stopAfter) PublishBook(m feed.Book) {
	if s.N.Ticks < s.n {
		s.Receiver.PublishBook(m)
	}
}

func (s *stopAfter) PublishStatus(st feed.Status) {
	if s.N.Ticks < s.n {
		s.Receiver.PublishStatus(st)
	}
}

// TestBadBookLines: bad book and status lines are counted under their
// kind and reason, logged once per symbol, kind and reason with their line
// number, and never played; the good lines around them all are, in order.
func TestBadBookLines(t *testing.T) {
	t.Parallel()
	lines := []string{
		`{"type":"book","sym":"AAPL","seq":1,"bids":[[100,5]],"asks":[[101,5]],"ts":1732470000000000000}`,          // 1
		`{"type":"book_update","sym":"AAPL","seq":2,"bids":[[100,-5]],"asks":[],"ts":1732470000000000001}`,         // 2: negative size
		`{"type":"book_update","sym":"AAPL","seq":2,"bids":[[100,-1]],"asks":[],"ts":1732470000000000001}`,         // 3: negative size again
		`{"type":"book","sym":"AAPL","seq":2,"bids":[[102,5]],"asks":[[101,5]],"ts":1732470000000000001}`,          // 4: crossed
		`{"type":"status","sym":"AAPL","seq":1,"status":"paused","ts":1732470000000000001}`,                        // 5: unknown status
		`{"type":"status","sym":"AAPL","seq":1,"status":"open"`,                                                    // 6: malformed
		`{"type":"status","sym":"AAPL","seq":1,"status":"open","ts":1732470000000000002}`,                          // 7
		`{"type":"book_update","sym":"AAPL","seq":2,"bids":[[100,7]],"asks":[[101.5,3]],"ts":1732470000000000003}`, // 8
		`{"sym":"AAPL","seq":1,"px":101,"sz":5,"bid":100,"ask":101,"ts":1732470000000000004}`,                      // 9
	}
	path := writeFile(t, "bad.ndjson", strings.Join(lines, "\n")+"\n")
	f := newFixture(t, Config{Path: path, Fast: true})
	r := booktest.NewReceiver(0)
	f.playInto(t, r)
	if r.Err != nil || r.N.Books != 2 || r.N.Status != 1 || r.N.Ticks != 1 {
		t.Fatalf("played %+v (%v), want lines 1, 7, 8 and 9 alone", r.N, r.Err)
	}
	for _, c := range []struct {
		kind, reason string
		want         float64
	}{{"book", "negative_size", 2}, {"book", "crossed", 1}, {"status", "unknown_status", 1}, {"status", "malformed", 1}} {
		if got := refused(t, f.reg, c.kind, c.reason); got != c.want {
			t.Errorf("%s{kind=%s,reason=%s} = %v, want %v", feed.DecodeErrorsMetric, c.kind, c.reason, got, c.want)
		}
	}
	log := f.log.String()
	if n := strings.Count(log, "dropped bad feed message"); n != 4 {
		t.Errorf("logged %d bad lines, want 4 (line 3 is line 2's symbol, kind and reason):\n%s", n, log)
	}
	for _, n := range []int{2, 4, 5, 6} {
		if !strings.Contains(log, fmt.Sprintf("line=%d\n", n)) {
			t.Errorf("log does not name line %d:\n%s", n, log)
		}
	}
}

// TestBookPacing plays ticks, a book and a status at their recorded pace
// in a synctest bubble: each leaves at its recorded offset (within the
// early allowance), whatever its kind.
func TestBookPacing(t *testing.T) {
	t.Parallel()
	const base = int64(1732470000000000000)
	lines := fmt.Sprintf(`{"type":"book","sym":"AAPL","seq":1,"bids":[[100,5]],"asks":[[101,5]],"ts":%d}
{"sym":"AAPL","seq":1,"px":101,"sz":5,"bid":100,"ask":101,"ts":%d}
{"type":"status","sym":"AAPL","seq":1,"status":"halted","reason":"LUDP","ts":%d}
{"type":"book_update","sym":"AAPL","seq":2,"bids":[[100,0]],"asks":[],"ts":%d}
`, base, base+int64(30*time.Millisecond), base+int64(80*time.Millisecond), base+int64(200*time.Millisecond))
	path := writeFile(t, "paced.ndjson", lines)
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, Config{Path: path})
		sink := &arrivals{start: time.Now()}
		f.playInto(t, sink)
		want := []time.Duration{0, 30 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond}
		if len(sink.at) != len(want) {
			t.Fatalf("%d messages, want %d", len(sink.at), len(want))
		}
		for i, at := range sink.at {
			if at < want[i]-early || at > want[i] {
				t.Errorf("message %d left %v after start, want within %v before %v", i, at, early, want[i])
			}
		}
	})
}

// arrivals is a DepthSink that notes when each message came, since start.
type arrivals struct {
	start time.Time
	at    []time.Duration
}

func (a *arrivals) note()                     { a.at = append(a.at, time.Since(a.start)) }
func (a *arrivals) Publish(feed.Tick)         { a.note() }
func (a *arrivals) PublishBook(feed.Book)     { a.note() }
func (a *arrivals) PublishStatus(feed.Status) { a.note() }
