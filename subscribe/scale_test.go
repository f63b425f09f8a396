package subscribe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestThousandClients connects 1,000 clients, each on its own set of
// symbols, and checks each receives exactly its symbols' ticks, every seq.
func TestThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const clients, perSym = 1000, 20
	symbols := make([]string, 40)
	for i := range symbols {
		symbols[i] = fmt.Sprintf("S%02d", i)
	}
	e := newTestEnv(t, Config{MaxConnections: 2000}, fanout.Config{}, symbols...)

	want := make([][]string, clients)
	conns := make([]*wstest.Client, clients)
	for i := range clients {
		// Client i holds 1 to 3 symbols picked from i, so sets differ.
		set := []string{symbols[i%40]}
		for k := 1; k <= i%3; k++ {
			if s := symbols[(i*7+k*13)%40]; !slices.Contains(set, s) {
				set = append(set, s)
			}
		}
		want[i] = set
		conns[i] = e.dial("?symbols=" + strings.Join(set, ","))
	}
	for i, c := range conns {
		if m := c.Next(); m.Type != "subscribed" || !slices.Equal(m.Symbols, want[i]) {
			t.Fatalf("client %d: got %+v, want subscribed %v", i, m, want[i])
		}
	}
	for _, sym := range symbols {
		e.publish(sym, perSym)
	}

	errs := make(chan error, clients)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { errs <- receiveExactly(c, want[i], perSym) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// receiveExactly reads until each symbol in syms has delivered seq 1..n in
// order, and fails on any other symbol.
func receiveExactly(c *wstest.Client, syms []string, n int) error {
	next := map[string]uint64{}
	for _, s := range syms {
		next[s] = 1
	}
	for left := len(syms) * n; left > 0; left-- {
		m, err := c.ReadWithin(20 * time.Second)
		if err != nil {
			return fmt.Errorf("%v: %d ticks missing: %w", syms, left, err)
		}
		want, ok := next[m.Sym]
		if m.Type != "tick" || !ok {
			return fmt.Errorf("client on %v got %+v", syms, m)
		}
		if m.Seq != want {
			return fmt.Errorf("%s seq %d, want %d", m.Sym, m.Seq, want)
		}
		next[m.Sym]++
	}
	return nil
}

// drainEnv is a gateway with five clients on AAPL, for a drain test.
func drainEnv(t *testing.T) (*testEnv, []*wstest.Client) {
	e := newTestEnv(t, Config{}, fanout.Config{})
	cs := make([]*wstest.Client, 5)
	for i := range cs {
		cs[i] = e.dialSubscribed("AAPL")
	}
	return e, cs
}

// TestDrainClosesWith1001 drains five clients over 100ms: each is closed
// with 1001, and a client dialling meanwhile is refused with 503. When the
// closes go out is closeSpread's schedule, tested on a fake clock in
// spread_test.go; TestDrainSpreadsCloses checks Drain follows it.
func TestDrainClosesWith1001(t *testing.T) {
	t.Parallel()
	e, cs := drainEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Drain(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for i, c := range cs {
		if got, err := closeStatus(c); got != websocket.StatusGoingAway {
			t.Fatalf("client %d: close status %v (%v), want 1001", i, got, err)
		}
	}
	if err := dialErr(e.url); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("dial while draining: %v, want HTTP 503", err)
	}
}

// TestDrainSpreadsCloses drains five clients over an hour, so the closes
// after the first are due twelve minutes apart: one client is closed with
// 1001 at once and the other four keep being served, an order no
// scheduling noise can flip. Cancelling the drain then ends the rest at
// once.
func TestDrainSpreadsCloses(t *testing.T) {
	t.Parallel()
	e, cs := drainEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	drained := make(chan error, 1)
	go func() { drained <- e.srv.Drain(ctx, time.Hour) }()
	first, code := -1, websocket.StatusCode(-1)
	checkFor(t, 10*time.Second, func() error {
		for i, c := range cs {
			m, err := c.ReadWithin(time.Millisecond)
			if err == nil {
				return fmt.Errorf("client %d got %+v while draining", i, m)
			}
			if code = websocket.CloseStatus(err); code != -1 {
				first = i
				return nil
			}
		}
		return errors.New("no client closed yet")
	})
	if code != websocket.StatusGoingAway {
		t.Fatalf("first client closed with %v, want 1001", code)
	}
	for i, c := range cs {
		if i == first {
			continue
		}
		c.Send(`{"op":"list","id":1}`)
		if m := c.Next(); m.Type != "list" {
			t.Fatalf("client %d, due to close minutes later, got %+v", i, m)
		}
	}
	cancel()
	if err := <-drained; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Drain = %v, want context.Canceled", err)
	}
	for i, c := range cs {
		if err := c.ReadUntilError(10 * time.Second); i != first && strings.Contains(err.Error(), "still open") {
			t.Fatalf("client %d after the cancelled drain: %v", i, err)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{MaxConnections: 2}, fanout.Config{})
	e.dial("")
	e.dial("")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, e.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third connection: err %v, resp %v; want HTTP 503", err, resp)
	}
	if got := gatheredLabel(t, e, "tickgate_connections_rejected_total", "max_connections"); got != 1 {
		t.Fatalf("connections_rejected_total = %v", got)
	}
}

// TestPongTimeout has a client that does not read, so answers no pings:
// it is closed with 4008, which it finds once it reads again.
func TestPongTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}, fanout.Config{})
	deaf := wstest.Dial(t, e.url) // not read from until it is closed
	live := e.dial("")
	checkFor(t, 5*time.Second, func() error {
		if got := gatheredLabel(t, e, "tickgate_disconnects_total", "pong_timeout"); got != 1 {
			return fmt.Errorf("disconnects{reason=pong_timeout} = %v", got)
		}
		return nil
	})
	// A client that reads answers pings and stays.
	live.Send(`{"op":"list","id":1}`)
	expectReply(live, "list", 1)
	if code, err := closeStatus(deaf); code != CodeNotReading || !strings.Contains(err.Error(), "pong timeout") {
		t.Fatalf("deaf client ended with %v, want close %d", err, CodeNotReading)
	}
}

// gatheredLabel sums the counters of name whose first label (reason, code)
// is reason, over their other labels (transport); -1 if there are none.
func gatheredLabel(t *testing.T, e *testEnv, name, reason string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum, found := 0.0, false
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				sum, found = sum+m.GetCounter().GetValue(), true
			}
		}
	}
	if !found {
		return -1
	}
	return sum
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","id":1,"symbols":["AAPL","MSFT"]}`,
		`{"op":"unsubscribe","id":2,"symbols":["AAPL"]}`,
		`{"op":"list","id":3}`, `{"op":"x"}`, `{`, `[]`, `{"id":1e400}`,
		`{"op":"subscribe","symbols":["AAPL"],"max_rate":4,"since":{"AAPL":1041}}`,
		`{"op":"subscribe","symbols":["AAPL"],"max_rate":-1}`,
		`{"op":"subscribe","symbols":["AAPL"],"since":{"AAPL":-1}}`,
		`{"op":"subscribe","symbols":["AAPL"],"since":[1]}`,
		`{"op":"unsubscribe","symbols":["AAPL"],"max_rate":1e308}`,
		`{"op":"auth","id":4,"token":"eyJhbGciOiJIUzI1NiJ9.e30.x"}`, `{"op":"auth"}`, `{"op":"auth","token":7}`,
		`{"op":"subscribe","id":5,"stream":"bars.1m","symbols":["AAPL"],"history":120,"partial":true}`,
		`{"op":"subscribe","stream":"bars.1s","symbols":["AAPL"],"since":{"AAPL":3}}`,
		`{"op":"subscribe","stream":"ticks","symbols":["AAPL"],"partial":true}`,
		`{"op":"subscribe","stream":"bars.5m","symbols":["AAPL"]}`, `{"op":"subscribe","stream":7,"symbols":["AAPL"]}`,
		`{"op":"subscribe","stream":"","symbols":["AAPL"],"history":-1}`, `{"op":"unsubscribe","stream":"bars.1m","symbols":["*"],"partial":false}`,
		`{"op":"list","stream":"bars.1s"}`, `{"op":"subscribe","stream":"BARS.1S","symbols":["AAPL"]}`,
		`{"op":"subscribe","symbols":["AAPL","MSFT"],"since":{"AAPL":{"seq":1041,"epoch":"k3x9f0a1b2c4"},"MSFT":77}}`,
		`{"op":"subscribe","symbols":["AAPL"],"since":{"AAPL":{"seq":1,"epoch":""}}}`,
		`{"op":"subscribe","symbols":["AAPL"],"since":{"AAPL":{"seq":1,"epoch":"a","x":0}}}`,
		`{"op":"subscribe","symbols":["AAPL"],"since":{"AAPL":null}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, perr := decodeRequest(b)
		if perr != nil {
			if !slices.Contains(errorCodes, perr.code) || perr.msg == "" {
				t.Fatalf("bad error %+v", perr)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		switch req.Op {
		case "auth":
			if req.Token == "" {
				t.Fatal("accepted auth without a token")
			}
		case "list":
		case "subscribe", "unsubscribe":
			if len(req.Symbols) == 0 {
				t.Fatalf("accepted %s with no symbols", req.Op)
			}
			if req.MaxRate < 0 {
				t.Fatalf("accepted max_rate %g", req.MaxRate)
			}
			if req.Op == "unsubscribe" && (req.MaxRate != 0 || req.Since != nil || req.History != 0 || req.Partial) {
				t.Fatalf("accepted unsubscribe with a subscribe policy")
			}
			if len(req.Since) != len(req.RawSince) {
				t.Fatalf("since %v decoded as %v", req.RawSince, req.Since)
			}
			if st, ok := fanout.ParseStream(req.StreamName); !ok || st != req.stream {
				t.Fatalf("accepted stream %q as %v", req.StreamName, req.stream)
			}
			if req.History < 0 {
				t.Fatalf("accepted history %d", req.History)
			}
			// "partial" on ticks is the engine's to refuse (fanout
			// ErrNoProgress; TestBarsOverSocket), not the decoder's.
		default:
			t.Fatalf("accepted op %q", req.Op)
		}
	})
}
