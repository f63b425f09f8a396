package subscribe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/ssetest"
)

// dialSSE opens an event stream of e with query, failing the test unless
// it starts.
func (e *testEnv) dialSSE(query string, o ssetest.Options) *ssetest.Client {
	e.t.Helper()
	return ssetest.Dial(e.t, e.sse+query, o)
}

// gatheredWith sums the counters or gauges name whose labels include the
// given name, value pairs.
func gatheredWith(t testing.TB, g prometheus.Gatherer, name string, pairs ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	has := func(m *dto.Metric, k, v string) bool {
		return slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v })
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(pairs); i += 2 {
				if !has(m, pairs[i], pairs[i+1]) {
					continue series
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// expectClose reads c until its stream ends and checks it ended with a
// close event of code, its reason containing text.
func expectClose(c *ssetest.Client, code int, text string) {
	c.TB.Helper()
	err := c.ReadUntilClose(15 * time.Second)
	var cl *ssetest.Closed
	if !errors.As(err, &cl) || cl.Code != code || !strings.Contains(cl.Reason, text) {
		c.TB.Fatalf("stream ended with %v, want a close event %d %q", err, code, text)
	}
	if _, err := c.NextEvent(); !errors.Is(err, io.EOF) {
		c.TB.Fatalf("after the close event: %v, want the end of the stream", err)
	}
}

// expectDisconnect waits until one session over SSE ended for reason.
func (e *testEnv) expectDisconnect(reason CloseReason) {
	e.t.Helper()
	checkFor(e.t, 15*time.Second, func() error {
		if got := gatheredWith(e.t, e.reg, "tickgate_disconnects_total", "reason", reason.String(), "transport", "sse"); got != 1 {
			return fmt.Errorf("disconnects_total{reason=%s,transport=sse} = %v, want 1", reason, got)
		}
		return nil
	})
}

// TestSSEStream reads a stream event by event: the same messages as a
// WebSocket in the same order, each event's id the position of every
// symbol after it, and the stream counted under transport "sse".
func TestSSEStream(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	e.publish("AAPL", 3)
	c := e.dialSSE("?symbols=AAPL,MSFT", ssetest.Options{})
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := c.Resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}

	tr, types := newSeqTracker(), []string{}
	seen := map[string]uint64{}
	for round := 0; seen["AAPL"] < 8 || seen["MSFT"] < 2; round++ {
		if round == 1 {
			e.publish("AAPL", 5)
			e.publish("MSFT", 2)
		}
		ev, err := c.NextEvent()
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := ssetest.Messages(ev)
		if err != nil || ev.Type != "message" || !ev.HasID {
			t.Fatalf("event %+v: %v; want a message event with an id", ev, err)
		}
		for _, m := range msgs {
			types = append(types, m.Type)
			if m.Type == "tick" {
				if err := tr.add(m); err != nil {
					t.Fatal(err)
				}
				seen[m.Sym] = m.Seq
			}
		}
		since, err := parseEventID(ev.ID)
		want := map[string]fanout.Position{}
		for sym, seq := range seen {
			want[sym] = fanout.Position{Seq: seq, Epoch: "0"}
		}
		if err != nil || fmt.Sprint(since) != fmt.Sprint(want) {
			t.Fatalf("event id %q (%v) after %v, want the positions %v", ev.ID, err, seen, want)
		}
	}
	if got := strings.Join(types[:3], ","); got != "welcome,subscribed,tick" {
		t.Fatalf("messages %v, want the welcome, subscribed and AAPL's snapshot first", types)
	}
	if ws, sse := gatheredWith(t, e.reg, "tickgate_connections", "transport", "ws"), gatheredWith(t, e.reg, "tickgate_connections", "transport", "sse"); ws != 0 || sse != 1 {
		t.Fatalf("connections ws %v, sse %v; want 0 and 1", ws, sse)
	}
	if got := gatheredWith(t, e.reg, "tickgate_frames_sent_total", "transport", "sse"); got < 2 {
		t.Fatalf("frames_sent_total{transport=sse} = %v, want one per event", got)
	}
	c.Close()
	e.expectDisconnect(ReasonClientClosed)
	checkFor(t, 5*time.Second, func() error {
		if n, subs := e.srv.Connections(), e.engine.Subscriptions(); n != 0 || subs != 0 {
			return fmt.Errorf("%d connections, %d subscriptions after the client left", n, subs)
		}
		return nil
	})
}

// TestSSERefusals sends requests a stream cannot serve: each is answered
// with an HTTP status and a plain body naming the problem, before any
// stream, and gives back its connection slot, while a stream beside them
// keeps every seq.
func TestSSERefusals(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{MaxSymbols: 3}, fanout.Config{History: 16})
	by := e.dialSSE("?symbols=AAPL", ssetest.Options{})
	expectReply(by, "subscribed", 0)
	e.publish("AAPL", 3)
	expectTicks(by, "AAPL", 0, 3)

	longID := "@0," + strings.Repeat("AAPL:1,", maxEventIDBytes/7)
	for _, tc := range []struct {
		query, lastID string
		status        int
		body          string
	}{
		{"", "", 400, "invalid_request: /sse needs ?symbols="},
		{"?symbols=ZZZZ", "", 400, `unknown_symbol: unknown symbols ["ZZZZ"]`},
		{"?symbols=AAPL,MSFT,NVDA,AMZN", "", 400, "too_many_symbols"},
		{"?symbols=AAPL&stream=bars.5m", "", 400, `unknown_stream: unknown stream "bars.5m"`},
		{"?symbols=AAPL&max_rate=fast", "", 400, `invalid_request: "max_rate" must be 0 (every tick) or a positive number`},
		{"?symbols=AAPL&max_rate=-1", "", 400, `"max_rate" must be`},
		{"?symbols=AAPL&history=-1", "", 400, `"history" must be 0 or a positive number`},
		{"?symbols=AAPL&history=17", "", 400, "history longer than the stream keeps"},
		{"?symbols=AAPL&partial=1", "", 400, `progress updates are for bar streams only`},
		{"?symbols=AAPL&stream=bars.1s&partial=maybe", "", 400, `"partial" must be true or false`},
		{"?symbols=AAPL&since=AAPL:3", "", 400, `since: position "AAPL:3" before any @<epoch>`},
		{"?symbols=AAPL", "@0,AAPL:x", 400, `Last-Event-ID: bad position "AAPL:x"`},
		{"?symbols=AAPL", longID, 431, "Last-Event-ID is"},
	} {
		o := ssetest.Options{}
		if tc.lastID != "" {
			o.Header = http.Header{"Last-Event-Id": {tc.lastID}}
		}
		r := ssetest.Refuse(t, e.sse+tc.query, o)
		if r.Status != tc.status || !strings.HasPrefix(r.ContentType, "text/plain") || !strings.Contains(r.Body, tc.body) {
			t.Errorf("%s (Last-Event-ID %.20q): %d %s %q, want %d and a body with %q", tc.query, tc.lastID, r.Status, r.ContentType, r.Body, tc.status, tc.body)
		}
	}

	// Bytes after the request: the stream is one-way.
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(e.sse, "/sse"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("GET /sse?symbols=AAPL HTTP/1.1\r\nHost: x\r\n\r\n{\"op\":\"list\"}"))
	if b, _ := io.ReadAll(conn); !strings.HasPrefix(string(b), "HTTP/1.1 400 ") || !strings.Contains(string(b), "one-way") {
		t.Errorf("request with bytes behind it: %q, want 400 one-way", b)
	}

	// HEAD: no stream for a body.
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Head(e.sse + "?symbols=AAPL")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("HEAD: %s, want 405", resp.Status)
	}

	// Origins: /ws's rule, and CORS for an allowed one.
	r := ssetest.Refuse(t, e.sse+"?symbols=AAPL", ssetest.Options{Header: http.Header{"Origin": {"https://evil.example"}}})
	if r.Status != http.StatusForbidden {
		t.Errorf("foreign origin: %d %q, want 403", r.Status, r.Body)
	}
	local := ssetest.Dial(t, e.sse+"?symbols=AAPL", ssetest.Options{Header: http.Header{"Origin": {"http://localhost:3000"}}})
	if got := local.Resp.Header.Get("Access-Control-Allow-Origin"); got != "http://localhost:3000" {
		t.Errorf("allowed origin: Access-Control-Allow-Origin %q", got)
	}
	local.Close()

	checkFor(t, 5*time.Second, func() error {
		if n := e.srv.Connections(); n != 1 {
			return fmt.Errorf("%d connections, want the bystander's alone", n)
		}
		return nil
	})
	e.publish("AAPL", 3)
	expectTicks(by, "AAPL", 3, 3)
}

// TestSSEAdmission: a stream is admitted as an upgrade is, in the same
// slots: the token (no first message: a missing one is a 401), the
// grant's symbols, streams and max_conns, and the connection limits that /ws
// shares.
func TestSSEAdmission(t *testing.T) {
	t.Parallel()
	e, v := newAuthEnv(t, fanout.Config{})
	v.set("one", Grant{Subject: "dave", Symbols: []string{"*"}, MaxConns: 1})
	v.set("nodepth", Grant{Subject: "erin", Symbols: []string{"*"}, Streams: []fanout.Stream{fanout.Ticks}})
	for _, tc := range []struct {
		query  string
		header http.Header
		status int
		body   string
	}{
		{"?symbols=AAPL", nil, 401, `{"error":"missing"`},
		{"?symbols=AAPL&token=bad:expired", nil, 401, `{"error":"expired"`},
		{"?symbols=AAPL", http.Header{"Authorization": {"Bearer bad:bad_signature"}}, 401, `"bad_signature"`},
		{"?symbols=AAPL&token=ms", nil, 403, "forbidden: not entitled to AAPL"},
		{"?symbols=AAPL&stream=book&token=nodepth", nil, 403, "forbidden: not entitled to the book stream"},
	} {
		r := ssetest.Refuse(t, e.sse+tc.query, ssetest.Options{Header: tc.header})
		if r.Status != tc.status || !strings.Contains(r.Body, tc.body) {
			t.Errorf("%s %v: %d %q, want %d with %q", tc.query, tc.header, r.Status, r.Body, tc.status, tc.body)
		}
	}
	c := e.dialSSE("?symbols=MSFT,NVDA", ssetest.Options{Header: http.Header{"Authorization": {"Bearer ms"}}})
	if m := expectReply(c, "subscribed", 0); !slices.Equal(m.Symbols, []string{"MSFT", "NVDA"}) {
		t.Fatalf("subscribed %v", m.Symbols)
	}
	first := e.dialSSE("?symbols=AAPL&token=one", ssetest.Options{})
	expectReply(first, "subscribed", 0)
	if r := ssetest.Refuse(t, e.sse+"?symbols=AAPL&token=one", ssetest.Options{}); r.Status != 429 || !strings.Contains(r.Body, "too_many_connections") {
		t.Errorf("second stream of a max_conns 1 subject: %d %q, want 429", r.Status, r.Body)
	}

	lim := newTestEnv(t, Config{MaxConnections: 1}, fanout.Config{})
	lim.dialSSE("?symbols=AAPL", ssetest.Options{})
	if r := ssetest.Refuse(t, lim.sse+"?symbols=AAPL", ssetest.Options{}); r.Status != 503 {
		t.Errorf("stream past max_connections: %d %q, want 503", r.Status, r.Body)
	}
	if err := dialErr(lim.url); err == nil {
		t.Error("upgrade past max_connections taken by a stream went through")
	}
	for _, tr := range []string{"ws", "sse"} {
		if got := gatheredWith(t, lim.reg, "tickgate_connections_rejected_total", "reason", "max_connections", "transport", tr); got != 1 {
			t.Errorf("connections_rejected_total{max_connections,%s} = %v, want 1", tr, got)
		}
	}
}

// TestSSERecoverWithLastEventID cuts a stream mid-feed, as a network
// would, and reconnects with the last event's id, as EventSource does:
// the reply says every symbol was recovered and the ticks go on from the
// last one read, none lost or repeated.
func TestSSERecoverWithLastEventID(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 4096})
	c := e.dialSSE("?symbols=AAPL,MSFT", ssetest.Options{})
	expectReply(c, "subscribed", 0)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	last := map[string]uint64{}
	wg.Go(func() { // both symbols, about 2000 ticks/s, until stopped
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			mu.Lock()
			last["AAPL"], last["MSFT"] = e.publishNow("AAPL"), e.publishNow("MSFT")
			mu.Unlock()
		}
	})
	tr := newSeqTracker()
	if err := readUntil(c, tr, map[string]uint64{"AAPL": 300, "MSFT": 300}); err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Rest() { // the last event's id covers all of it
		if err := tr.add(m); err != nil {
			t.Fatal(err)
		}
	}
	c.Close() // mid-stream: events in flight are lost
	id := c.LastID
	since, err := parseEventID(id)
	want := map[string]fanout.Position{"AAPL": {Seq: tr.last["AAPL"], Epoch: "0"}, "MSFT": {Seq: tr.last["MSFT"], Epoch: "0"}}
	if err != nil || fmt.Sprint(since) != fmt.Sprint(want) {
		t.Fatalf("last event id %q (%v), want the positions read, %v", id, err, want)
	}
	time.Sleep(50 * time.Millisecond) // away while the feed goes on
	c2 := e.dialSSE("?symbols=AAPL,MSFT", ssetest.Options{Header: http.Header{"Last-Event-Id": {id}}})
	if r := expectReply(c2, "subscribed", 0); !slices.Equal(r.Recovered, []string{"AAPL", "MSFT"}) || len(r.Snapshot) != 0 {
		t.Fatalf("reply %s, want both recovered", r.Raw)
	}
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	final := map[string]uint64{"AAPL": last["AAPL"], "MSFT": last["MSFT"]}
	mu.Unlock()
	if err := readUntil(c2, tr, final); err != nil { // tr still holds the seqs read before the cut
		t.Fatalf("after the reconnect: %v", err)
	}
	t.Logf("cut at %v, recovered through %v", want, final)
}

// TestSSEEpochs: ids carry each symbol's epoch, a reset moves it on, and
// an id of a run the feed has left is answered with a snapshot of the new
// one, as since is.
func TestSSEEpochs(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 64})
	e.publishRun("AAPL", "e1", 1, 2, 3)
	c := e.dialSSE("?symbols=AAPL", ssetest.Options{})
	if m := expectReply(c, "subscribed", 0); m.Epochs["AAPL"] != "e1" {
		t.Fatalf("subscribed %s", m.Raw)
	}
	expectTicks(c, "AAPL", 2, 1)
	if c.EventID != "@e1,AAPL:3" {
		t.Fatalf("id %q, want @e1,AAPL:3", c.EventID)
	}
	e.publishRun("AAPL", "e2", 1, 2)
	if m := c.Next(); m.Type != "notice" || m.Code != "reset" || m.Epoch != "e2" {
		t.Fatalf("got %s, want the reset to e2", m.Raw)
	}
	expectTicks(c, "AAPL", 0, 2)
	if c.EventID != "@e2,AAPL:2" {
		t.Fatalf("id %q after the reset, want @e2,AAPL:2", c.EventID)
	}
	for _, tc := range []struct {
		id        string
		recovered bool
		first     uint64
	}{
		{"@e1,AAPL:3", false, 2}, // the old run: the new run's snapshot
		{"@e2,AAPL:1", true, 2},
		{"@e2,AAPL:0", true, 1}, // seen the reset, not a tick: the whole run
	} {
		r := e.dialSSE("?symbols=AAPL", ssetest.Options{Header: http.Header{"Last-Event-Id": {tc.id}}})
		m := expectReply(r, "subscribed", 0)
		if got := slices.Equal(m.Recovered, []string{"AAPL"}); got != tc.recovered || m.Epochs["AAPL"] != "e2" {
			t.Fatalf("Last-Event-ID %s: %s, want recovered %v in e2", tc.id, m.Raw, tc.recovered)
		}
		expectTicks(r, "AAPL", tc.first-1, int(3-tc.first))
		if r.EventID != "@e2,AAPL:2" {
			t.Fatalf("Last-Event-ID %s: then id %q, want @e2,AAPL:2", tc.id, r.EventID)
		}
	}
}

// TestSSECloseEvents ends streams for each reason a stream can end: the
// reasons a WebSocket closes with come as a close event with the same code
// and text, then the end of the stream; a stream that stopped reading is
// cut without one. Each is counted under transport "sse".
func TestSSECloseEvents(t *testing.T) {
	t.Parallel()
	t.Run("shutdown", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, Config{}, fanout.Config{})
		c := e.dialSSE("?symbols=AAPL", ssetest.Options{})
		expectReply(c, "subscribed", 0)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Drain(ctx, 0); err != nil {
			t.Fatal(err)
		}
		expectClose(c, 1001, "server shutting down")
		e.expectDisconnect(ReasonShutdown)
	})
	t.Run("token expired", func(t *testing.T) {
		t.Parallel()
		e, v := newAuthEnv(t, fanout.Config{})
		v.set("brief", Grant{Subject: "erin", Symbols: []string{"*"}, Expires: time.Now().Add(300 * time.Millisecond)})
		c := e.dialSSE("?symbols=AAPL&token=brief", ssetest.Options{})
		expectClose(c, 4003, "token expired")
		e.expectDisconnect(ReasonAuth)
	})
	t.Run("slow consumer", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, Config{}, fanout.Config{QueueBytes: 32 << 10, ConflateAt: 32 << 10})
		c := e.dialSSE("?symbols=AAPL", ssetest.Options{RecvBuf: 4096})
		checkFor(t, 20*time.Second, func() error {
			e.publish("AAPL", 200)
			if got := gathered(t, e.reg, "tickgate_slow_consumers_total"); got != 1 {
				return fmt.Errorf("not dropped yet (%v)", got)
			}
			return nil
		})
		// The close event waits behind what the socket holds, for up to
		// write_timeout: the client reads its way to it.
		expectClose(c, 4001, "slow consumer")
		e.expectDisconnect(ReasonSlowConsumer)
	})
	t.Run("one-way", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, Config{}, fanout.Config{})
		c := e.dialSSE("?symbols=AAPL", ssetest.Options{})
		expectReply(c, "subscribed", 0)
		if err := c.WriteRaw([]byte(`{"op":"list"}`)); err != nil {
			t.Fatal(err)
		}
		expectClose(c, 1002, "one-way")
		e.expectDisconnect(ReasonProtocolError)
	})
	t.Run("write timeout", func(t *testing.T) {
		t.Parallel()
		e := newTestEnv(t, Config{WriteTimeout: 300 * time.Millisecond}, fanout.Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20})
		c := e.dialSSE("?symbols=AAPL", ssetest.Options{RecvBuf: 4096})
		checkFor(t, 20*time.Second, func() error {
			e.publish("AAPL", 200)
			if got := gatheredWith(t, e.reg, "tickgate_disconnects_total", "reason", "write_timeout", "transport", "sse"); got != 1 {
				return fmt.Errorf("not timed out yet (%v)", got)
			}
			return nil
		})
		// The close event waits behind what the client has not read,
		// after the rest of an event the stall cut.
		expectClose(c, int(CodeNotReading), "write timeout")
	})
}

// TestSSEHeartbeats: an idle stream gets a comment every ping_interval,
// which EventSource ignores and proxies count as traffic.
func TestSSEHeartbeats(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{PingInterval: 50 * time.Millisecond}, fanout.Config{})
	c := e.dialSSE("?symbols=AAPL", ssetest.Options{})
	expectReply(c, "subscribed", 0)
	time.Sleep(400 * time.Millisecond) // timers never fire early: at least 7 are due
	e.publish("AAPL", 1)
	expectTicks(c, "AAPL", 0, 1)
	if c.Heartbeats < 3 {
		t.Fatalf("%d heartbeats in 400 ms at ping_interval 50ms", c.Heartbeats)
	}
}
