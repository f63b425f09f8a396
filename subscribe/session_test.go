package subscribe

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/ssetest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// testClient is a client of either transport, as the helpers below read
// it: a WebSocket (wstest) or an event stream (ssetest).
type testClient interface {
	Read() (msg, error) // within 10 s
	Next() msg
}

// tbOf is the test c fails.
func tbOf(c testClient) testing.TB {
	if s, ok := c.(*ssetest.Client); ok {
		return s.TB
	}
	return c.(*wstest.Client).TB
}

// expectTicks reads n ticks of sym and checks their seqs run on from after.
func expectTicks(c testClient, sym string, after uint64, n int) {
	tb := tbOf(c)
	tb.Helper()
	if err := readTicks(c, sym, after, n); err != nil {
		tb.Fatal(err)
	}
}

// readTicks is expectTicks for goroutines other than the test's.
func readTicks(c testClient, sym string, after uint64, n int) error {
	return readTicksProgress(c, sym, after, n, new(atomic.Uint64))
}

// readTicksProgress is readTicks that stores each seq read in progress.
func readTicksProgress(c testClient, sym string, after uint64, n int, progress *atomic.Uint64) error {
	want := after + 1
	for want <= after+uint64(n) {
		m, err := c.Read()
		if err != nil {
			return fmt.Errorf("no %s tick seq %d: %w", sym, want, err)
		}
		if m.Type != "tick" || m.Sym != sym {
			return fmt.Errorf("got %+v, want %s tick seq %d", m, sym, want)
		}
		if m.Seq != want {
			return fmt.Errorf("%s seq %d, want %d (gap or repeat)", sym, m.Seq, want)
		}
		progress.Store(want)
		want++
	}
	return nil
}

// tickReader reads ticks of one symbol on its own goroutine with
// readTicks's checks, and publishes the last seq read, by which a test
// paces the feed.
type tickReader struct {
	progress atomic.Uint64
	done     chan struct{} // closed when the reader has ended
	err      error         // valid once done is closed
}

// startTickReader reads n ticks of sym on c, from seq 1.
func startTickReader(c *wstest.Client, sym string, n int) *tickReader {
	r := &tickReader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = readTicksProgress(c, sym, 0, n, &r.progress)
	}()
	return r
}

// wait returns the reader's error once it has ended.
func (r *tickReader) wait() error {
	<-r.done
	return r.err
}

// expectReply reads a reply of type typ with the given id; id 0 means the
// reply carries none (a ?symbols= subscription).
func expectReply(c testClient, typ string, id int64) msg {
	tb := tbOf(c)
	tb.Helper()
	m := c.Next()
	gotID := int64(0)
	if m.ID != nil {
		gotID = *m.ID
	}
	if m.Type != typ || gotID != id || (id == 0) != (m.ID == nil) {
		tb.Fatalf("got %+v, want %s reply with id %d", m, typ, id)
	}
	return m
}

func TestSubscribeSnapshotLiveUnsubscribe(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	e.publish("AAPL", 3)
	c := e.dial("")

	c.Send(`{"op":"subscribe","id":1,"symbols":["AAPL","MSFT"]}`)
	if m := expectReply(c, "subscribed", 1); !slices.Equal(m.Symbols, []string{"AAPL", "MSFT"}) {
		t.Fatalf("subscribed %v", m.Symbols)
	}
	expectTicks(c, "AAPL", 2, 1) // the snapshot: seq 3; MSFT has none yet
	e.publish("AAPL", 5)
	expectTicks(c, "AAPL", 3, 5)
	e.publish("MSFT", 2)
	expectTicks(c, "MSFT", 0, 2)

	c.Send(`{"op":"list","id":2}`)
	if m := expectReply(c, "list", 2); !slices.Equal(m.Symbols, []string{"AAPL", "MSFT"}) {
		t.Fatalf("list %v", m.Symbols)
	}
	c.Send(`{"op":"unsubscribe","id":3,"symbols":["AAPL"]}`)
	if m := expectReply(c, "unsubscribed", 3); !slices.Equal(m.Symbols, []string{"AAPL"}) {
		t.Fatalf("unsubscribed %v", m.Symbols)
	}
	e.publish("AAPL", 5)
	e.publish("MSFT", 1)
	expectTicks(c, "MSFT", 2, 1) // no AAPL tick comes first

	// Subscribing again to a held symbol sends no second snapshot.
	c.Send(`{"op":"subscribe","id":4,"symbols":["MSFT"]}`)
	expectReply(c, "subscribed", 4)
	e.publish("MSFT", 1)
	expectTicks(c, "MSFT", 3, 1)
}

func TestQueryStringAndWildcard(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	e.publish("NVDA", 2)

	q := e.dial("?symbols=NVDA,JPM")
	if m := q.Next(); m.Type != "subscribed" || m.ID != nil || !slices.Equal(m.Symbols, []string{"NVDA", "JPM"}) {
		t.Fatalf("got %+v", m)
	}
	expectTicks(q, "NVDA", 1, 1)

	all := e.dial("")
	all.Send(`{"op":"subscribe","id":7,"symbols":["*"]}`)
	if m := expectReply(all, "subscribed", 7); !slices.Equal(m.Symbols, testSymbols) {
		t.Fatalf("* gave %v", m.Symbols)
	}
	expectTicks(all, "NVDA", 1, 1)
	for _, sym := range testSymbols {
		e.publish(sym, 1)
		expectTicks(all, sym, e.seq[sym]-1, 1)
	}
	expectTicks(q, "NVDA", 2, 1)
	expectTicks(q, "JPM", 0, 1)

	// A bad ?symbols= list is refused before the upgrade.
	resp, err := http.Get(strings.Replace(e.url, "ws://", "http://", 1) + "?symbols=AAPL,NOPE")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad ?symbols= got HTTP %d, want 400", resp.StatusCode)
	}
}

func TestWildcardForbidden(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{ForbidWildcard: true}, fanout.Config{})
	c := e.dial("")
	c.Send(`{"op":"subscribe","id":1,"symbols":["*"]}`)
	if m := expectReply(c, "error", 1); m.Code != CodeWildcardForbidden {
		t.Fatalf("got %+v", m)
	}
}

// TestBadInput sends each kind of bad message on one connection and checks
// its error code, that the connection stays usable, and that a bystander
// keeps receiving every tick.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{MaxSymbols: 3}, fanout.Config{})
	by := e.dialSubscribed("AAPL")
	c := e.dial("")

	cases := []struct {
		send string
		code string
		id   int64 // echoed id; 0 when the message has none to echo
	}{
		{`{"op":"subscribe","id":1,"symbols":["AAPL"`, CodeMalformedJSON, 0},
		{`not json at all`, CodeMalformedJSON, 0},
		{`{"op":"dance","id":2}`, CodeUnknownOp, 2},
		{`{"op":"subscribe","id":3,"symbols":["AAPL","ZZZZ"]}`, CodeUnknownSymbol, 3},
		{`{"op":"subscribe","id":4,"symbols":["AAPL","MSFT","NVDA","AMZN"]}`, CodeTooManySymbols, 4},
		{`{"op":"subscribe","id":5}`, CodeInvalidRequest, 5},
		{`{"op":"subscribe","id":"six","symbols":["AAPL"]}`, CodeInvalidRequest, 0},
		{`{"id":7}`, CodeInvalidRequest, 7},
		{`{"op":"unsubscribe","id":8,"symbols":["ZZZZ"]}`, CodeUnknownSymbol, 8},
		{`[1,2,3]`, CodeInvalidRequest, 0},
	}
	for _, tc := range cases {
		c.Send(tc.send)
		m := c.Next()
		if m.Type != "error" || m.Code != tc.code || m.Msg == "" {
			t.Fatalf("%s: got %+v, want error %s", tc.send, m, tc.code)
		}
		if tc.id != 0 && (m.ID == nil || *m.ID != tc.id) {
			t.Fatalf("%s: reply id %v, want %d", tc.send, m.ID, tc.id)
		}
		e.publish("AAPL", 1)
		expectTicks(by, "AAPL", e.seq["AAPL"]-1, 1)
	}
	// A failed subscribe changed nothing, and the connection still works.
	c.Send(`{"op":"list","id":99}`)
	if m := expectReply(c, "list", 99); len(m.Symbols) != 0 {
		t.Fatalf("list after rejected subscribes: %v", m.Symbols)
	}
	if got := testutil.ToFloat64(e.srv.metrics.errors[CodeMalformedJSON]); got != 2 {
		t.Fatalf("client_errors_total{code=malformed_json} = %v, want 2", got)
	}
}

func TestFloodClosesWith1008(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{MsgRate: 1, MsgBurst: 5, FloodBurst: 20}, fanout.Config{})
	by := e.dialSubscribed("AAPL")
	c := e.dial("")
	limited := 0
	for i := range 50 {
		err := c.Conn.Write(context.Background(), websocket.MessageText, []byte(fmt.Sprintf(`{"op":"list","id":%d}`, i)))
		if err != nil {
			break // closed under us
		}
	}
	var err error
	for m := (msg{}); err == nil; m, err = c.Read() {
		if m.Type == "error" && m.Code == CodeRateLimited {
			limited++
		}
	}
	if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation {
		t.Fatalf("close status %v (%v), want 1008", got, err)
	}
	if limited == 0 {
		t.Fatal("no rate_limited error before the close")
	}
	e.publish("AAPL", 3)
	expectTicks(by, "AAPL", 0, 3)
}

func TestOversizedFrameClosesWith1009(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{ReadLimit: 512}, fanout.Config{})
	by := e.dialSubscribed("AAPL")
	c := e.dial("")
	c.Send(`{"op":"subscribe","id":1,"symbols":["` + strings.Repeat("A", 1000) + `"]}`)
	if got, err := closeStatus(c); got != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v (%v), want 1009", got, err)
	}
	e.publish("AAPL", 3)
	expectTicks(by, "AAPL", 0, 3)
	checkFor(t, 5*time.Second, func() error {
		if got := testutil.ToFloat64(e.srv.metrics.disconnects[overWebSocket][ReasonTooBig]); got != 1 {
			return fmt.Errorf("disconnects{reason=too_big} = %v", got)
		}
		return nil
	})
}

// TestSlowConsumerDropped has one client stop reading while ticks flow.
// It must be closed with 4001 and counted; a reading client on the same
// symbol must see every seq.
func TestSlowConsumerDropped(t *testing.T) {
	t.Parallel()
	// The write timeout is long: the slow client's last frame write stalls
	// until the test lets it read, and must not time out before that.
	// Conflation is off (ConflateAt = QueueBytes): this is the 4001 path.
	e := newTestEnv(t, Config{WriteTimeout: time.Minute}, fanout.Config{QueueBytes: 64 << 10, ConflateAt: 64 << 10})
	fast := e.dialSubscribed("AAPL")

	slow := e.dialSlow("?symbols=AAPL")
	// slow does not read until the gateway has dropped it.

	// Publish in small steps and let the reading client catch up after
	// each, so only the client that stops reading can overflow.
	const step, steps = 100, 200
	reader := startTickReader(fast, "AAPL", step*steps)
	dropped := func() error {
		if got := gathered(t, e.reg, "tickgate_slow_consumers_total"); got != 1 {
			return fmt.Errorf("slow_consumers_total = %v", got)
		}
		return nil
	}
	e.publishPaced("AAPL", step, steps, &reader.progress)
	checkFor(t, 10*time.Second, dropped)
	if err := reader.wait(); err != nil {
		t.Fatalf("reading client beside the slow one: %v", err)
	}

	slow.ReadAhead()
	if got, err := closeStatus(slow); got != 4001 {
		t.Fatalf("slow client close status %v (%v), want 4001", got, err)
	}
	checkFor(t, 10*time.Second, func() error {
		if n := e.engine.Subscriptions(); n != 1 {
			return fmt.Errorf("subscriptions after drop = %d, want 1", n)
		}
		return nil
	})
}

// publishPaced publishes steps runs of step ticks of sym, each once the
// reading client whose seq progress holds has read the run before: the
// feed keeps pace with a reader, so only a client that does not read
// falls behind.
func (e *testEnv) publishPaced(sym string, step, steps int, progress *atomic.Uint64) {
	e.t.Helper()
	for i := 1; i <= steps; i++ {
		e.publish(sym, step)
		checkFor(e.t, 10*time.Second, func() error {
			if got := progress.Load(); got < uint64(i*step) {
				return fmt.Errorf("reading client at seq %d of %d", got, i*step)
			}
			return nil
		})
	}
}

// dialSlow dials query with a small receive buffer and does not start
// reading: a client on a slow link, whose reader the test starts (or
// never does).
func (e *testEnv) dialSlow(query string) *wstest.Client {
	e.t.Helper()
	return wstest.DialWith(e.t, e.url+query, smallRecvBuf())
}

// gathered returns the value of the unlabelled counter or gauge name.
func gathered(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestErrorIDs checks that an error reply echoes the request's id only
// when that id is an integer: a made-up "id":0 would match a request the
// client never sent.
func TestErrorIDs(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	c := e.dial("")
	for _, send := range []string{
		`{"op":"list","id":"six"}`,
		`{"op":"list","id":1.5}`,
		`{"op":"list","id":1e3}`,
		`{"op":"list","id":99999999999999999999}`,
		`{"op":"list","id":true}`,
		`{"op":"list","id":{}}`,
		`{"op":"subscribe","id":"six","symbols":["AAPL"]}`,
		`{"op":"subscribe","id":[1],"symbols":"AAPL"}`,
	} {
		c.Send(send)
		m := c.Next()
		if m.Type != "error" || m.Code != CodeInvalidRequest || m.ID != nil {
			t.Fatalf("%s: got %+v (id %v), want invalid_request with no id", send, m, m.ID)
		}
	}
	// An integer id is echoed even when another field is wrong.
	c.Send(`{"op":"subscribe","id":-5,"symbols":"AAPL"}`)
	if m := expectReply(c, "error", -5); m.Code != CodeInvalidRequest {
		t.Fatalf("got %+v", m)
	}
	c.Send(`{"op":"list","id":null}`)
	expectReply(c, "list", 0)
}
