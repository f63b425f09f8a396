package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

// connect dials tg's /ws with query (e.g. "?symbols=AAPL", or "") and
// closes the connection when the test ends.
func connect(t *testing.T, tg *testGateway, query string) *wstest.Client {
	t.Helper()
	return wstest.Dial(t, tg.ws+query)
}

// seqCheck follows each symbol's seq: after a symbol's first tick (its
// snapshot or first live tick) every tick must be the next seq.
type seqCheck map[string]uint64

func (s seqCheck) tick(t testing.TB, m wstest.Msg) {
	t.Helper()
	if err := s.check(m); err != nil {
		t.Fatal(err)
	}
}

// check is tick for goroutines other than the test's.
func (s seqCheck) check(m wstest.Msg) error {
	if _, err := feed.DecodeJSON(m.Raw); err != nil {
		return fmt.Errorf("tick %s: %w", m.Raw, err)
	}
	if last, ok := s[m.Sym]; ok && m.Seq != last+1 {
		return fmt.Errorf("%s seq %d after %d: not contiguous", m.Sym, m.Seq, last)
	}
	s[m.Sym] = m.Seq
	return nil
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{"feed.sim.rate": "5000"})
	c := connect(t, tg, "")
	c.Send(`{"op":"subscribe","id":1,"symbols":["AAPL","MSFT"]}`)
	if m := c.Next(); m.Type != "subscribed" || m.ID == nil || *m.ID != 1 || strings.Join(m.Symbols, ",") != "AAPL,MSFT" {
		t.Fatalf("first message %s, want the subscribed reply for id 1", m.Raw)
	}

	seqs := seqCheck{}
	counts := map[string]int{}
	for n := 0; n < 200 || counts["MSFT"] == 0; n++ {
		m := c.Next()
		if m.Type != "tick" || (m.Sym != "AAPL" && m.Sym != "MSFT") {
			t.Fatalf("message %s, want an AAPL or MSFT tick", m.Raw)
		}
		seqs.tick(t, m)
		counts[m.Sym]++
	}

	c.Send(`{"op":"list","id":2}`)
	for {
		m := c.Next()
		if m.Type == "tick" {
			seqs.tick(t, m)
			continue
		}
		if m.Type != "list" || m.ID == nil || *m.ID != 2 || strings.Join(m.Symbols, ",") != "AAPL,MSFT" {
			t.Fatalf("reply %s, want list of AAPL,MSFT for id 2", m.Raw)
		}
		break
	}

	c.Send(`{"op":"subscribe","id":3,"symbols":["NOPE"]}`)
	c.Send(`{"op":"unsubscribe","id":4,"symbols":["AAPL"]}`)
	for gotErr := false; ; {
		m := c.Next()
		if m.Type == "tick" {
			seqs.tick(t, m)
			continue
		}
		if m.Type == "error" && m.ID != nil && *m.ID == 3 && m.Code == "unknown_symbol" {
			gotErr = true
			continue
		}
		if !gotErr || m.Type != "unsubscribed" || m.ID == nil || *m.ID != 4 || strings.Join(m.Symbols, ",") != "AAPL" {
			t.Fatalf("reply %s, want an unknown_symbol error for id 3, then unsubscribed AAPL for id 4", m.Raw)
		}
		break
	}
	// Ticks queued before the reply were sent before it; none may follow.
	for msft := 0; msft < 50; {
		m := c.Next()
		if m.Type != "tick" || m.Sym != "MSFT" {
			t.Fatalf("after unsubscribing AAPL got %s, want only MSFT ticks", m.Raw)
		}
		seqs.tick(t, m)
		msft++
	}
}

func TestMaxConnections(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{"server.max_connections": "2"})
	first := connect(t, tg, "")
	connect(t, tg, "")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := wstest.DialRaw(ctx, tg.ws, nil)
	if err == nil {
		conn.CloseNow()
		t.Fatal("third dial succeeded past server.max_connections 2")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third dial: %v (response %v), want HTTP 503", err, resp)
	}
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_connections_rejected_total", "reason", "max_connections"); v != 1 {
		t.Errorf("tickgate_connections_rejected_total{reason=max_connections} = %g, want 1", v)
	}

	// A closed connection frees its slot.
	first.Conn.Close(websocket.StatusNormalClosure, "")
	poll.Until(t, 5*time.Second, func() error {
		conn, _, err := wstest.DialRaw(ctx, tg.ws, nil)
		if err != nil {
			return err
		}
		conn.CloseNow()
		return nil
	})
}

func TestOrigin(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	conn, resp, err := wstest.DialRaw(ctx, tg.ws, http.Header{"Origin": {"http://evil.example"}})
	if err == nil {
		conn.CloseNow()
		t.Error("dial with Origin http://evil.example succeeded")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("dial with Origin http://evil.example: %v (response %v), want HTTP 403", err, resp)
	}

	for _, origin := range []string{"http://localhost:3000", "http://" + strings.TrimPrefix(tg.url, "http://")} {
		conn, _, err := wstest.DialRaw(ctx, tg.ws, http.Header{"Origin": {origin}})
		if err != nil {
			t.Errorf("dial with Origin %s: %v", origin, err)
			continue
		}
		conn.Close(websocket.StatusNormalClosure, "")
	}
}

// TestConcurrentClientsShareTicks checks many clients on one symbol each see
// an unbroken seq while they all read at once.
func TestConcurrentClientsShareTicks(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{"feed.sim.rate": "10000"})
	var wg sync.WaitGroup
	for range 8 {
		c := connect(t, tg, "?symbols=AAPL,MSFT,NVDA")
		if m := c.Next(); m.Type != "subscribed" || m.ID != nil || strings.Join(m.Symbols, ",") != "AAPL,MSFT,NVDA" {
			t.Fatalf("first message %s, want subscribed AAPL,MSFT,NVDA without an id", m.Raw)
		}
		wg.Go(func() {
			seqs := seqCheck{}
			for range 300 {
				m, err := c.Read()
				if err == nil && m.Type != "tick" {
					err = fmt.Errorf("got %s, want ticks only", m.Raw)
				}
				if err == nil {
					err = seqs.check(m)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestFrameSize checks frames built from a backlog stay within
// client.max_frame_bytes, the limit a client can set as its read limit.
func TestFrameSize(t *testing.T) {
	t.Parallel()
	const maxFrame = 4096
	tg := startGateway(t, map[string]string{
		"feed.sim.rate": "200000", "client.max_frame_bytes": fmt.Sprint(maxFrame), "fanout.queue_bytes": "67108864",
	})
	c := connect(t, tg, "?symbols=*")
	c.Conn.SetReadLimit(1 << 20) // measure frames, don't fail on them
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	largest, batched := 0, 0
	for range 500 {
		_, frame, err := c.Conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, len(frame))
		if bytes.Count(frame, []byte("\n")) > 0 {
			batched++
		}
	}
	if largest > maxFrame {
		t.Errorf("largest frame %d bytes, past client.max_frame_bytes %d", largest, maxFrame)
	}
	if batched == 0 {
		t.Errorf("no frame of 500 held more than one message; the test did not exercise batching")
	}
	t.Logf("largest frame %d bytes; %d of 500 frames batched", largest, batched)
}
