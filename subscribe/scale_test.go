package subscribe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
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
	conns := make([]*wsClient, clients)
	for i := range clients {
		// Client i holds 1 to 3 symbols picked from i, so sets differ.
		set := []string{symbols[i%40]}
		for k := 1; k <= i%3; k++ {
			if s := symbols[(i*7+k*13)%40]; !slices.Contains(set, s) {
				set = append(set, s)
			}
		}
		want[i] = set
		c, err := dialWS(e.url + "?symbols=" + strings.Join(set, ","))
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		c.t = t
		conns[i] = c
		t.Cleanup(func() { c.conn.CloseNow() })
		c.start()
	}
	for i, c := range conns {
		if m := <-c.msgs; m.Type != "subscribed" || !slices.Equal(m.Symbols, want[i]) {
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
func receiveExactly(c *wsClient, syms []string, n int) error {
	next := map[string]uint64{}
	for _, s := range syms {
		next[s] = 1
	}
	for left := len(syms) * n; left > 0; left-- {
		var m msg
		select {
		case mm, ok := <-c.msgs:
			if !ok {
				return fmt.Errorf("connection ended: %v", c.err)
			}
			m = mm
		case <-time.After(20 * time.Second):
			return fmt.Errorf("%v: %d ticks missing", syms, left)
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

func TestDrainClosesWith1001(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	var cs []*wsClient
	for range 5 {
		c := e.dial("?symbols=AAPL")
		c.expectReply("subscribed", 0)
		cs = append(cs, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := e.srv.Drain(ctx, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// The last close goes out at 4/5 of the window less its tenth
	// kept for handshakes: 72ms.
	if d := time.Since(start); d < 72*time.Millisecond {
		t.Fatalf("drain of 5 clients over 100ms took %v; closes not spread", d)
	}
	for i, c := range cs {
		if got := c.closeStatus(); got != websocket.StatusGoingAway {
			t.Fatalf("client %d: close status %v (%v), want 1001", i, got, c.err)
		}
	}
	if _, err := dialWS(e.url); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("dial while draining: %v, want HTTP 503", err)
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

// TestPongTimeout has a client that never reads, so never answers pings.
func TestPongTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond}, fanout.Config{})
	quiet, err := dialWS(e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { quiet.conn.CloseNow() })
	live := e.dial("")
	checkFor(t, 5*time.Second, func() error {
		if got := gatheredLabel(t, e, "tickgate_disconnects_total", "pong_timeout"); got != 1 {
			return fmt.Errorf("disconnects{reason=pong_timeout} = %v", got)
		}
		return nil
	})
	// A client that reads answers pings and stays.
	live.send(`{"op":"list","id":1}`)
	live.expectReply("list", 1)
}

func gatheredLabel(t *testing.T, e *testEnv, name, reason string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
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
