package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/feed"
)

// wsClient is a test WebSocket client that reads one message at a time
// out of frames of "\n"-separated messages.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	pending [][]byte
}

// connect dials tg's /ws with query (e.g. "?symbols=AAPL", or "") and
// closes the connection when the test ends.
func connect(t *testing.T, tg *testGateway, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := dial(ctx, tg.ws+query, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", tg.ws+query, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	// Frames reach client.max_frame_bytes (64 KiB by default), past
	// coder/websocket's default read limit of 32 KiB.
	conn.SetReadLimit(1 << 20)
	return &wsClient{t: t, conn: conn}
}

// wireMsg is any server message: a reply or a tick.
type wireMsg struct {
	Type    string   `json:"type"`
	ID      *int64   `json:"id"`
	Symbols []string `json:"symbols"`
	Code    string   `json:"code"`
	Sym     string   `json:"sym"`
	Seq     uint64   `json:"seq"`
	raw     []byte
}

// next returns the next message, reading a frame when none is pending.
func (c *wsClient) next() wireMsg {
	c.t.Helper()
	m, err := c.read()
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// read is next for goroutines other than the test's: it returns errors.
func (c *wsClient) read() (wireMsg, error) {
	if len(c.pending) == 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		typ, frame, err := c.conn.Read(ctx)
		if err != nil {
			return wireMsg{}, fmt.Errorf("read: %w", err)
		}
		if typ != websocket.MessageText {
			return wireMsg{}, fmt.Errorf("frame of type %v, want text", typ)
		}
		c.pending = bytes.Split(frame, []byte("\n"))
	}
	raw := c.pending[0]
	c.pending = c.pending[1:]
	var m wireMsg
	if err := json.Unmarshal(raw, &m); err != nil {
		return wireMsg{}, fmt.Errorf("message %q: %w", raw, err)
	}
	m.raw = raw
	return m, nil
}

// send writes one request.
func (c *wsClient) send(req string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		c.t.Fatalf("write %s: %v", req, err)
	}
}

// seqCheck follows each symbol's seq: after a symbol's first tick (its
// snapshot or first live tick) every tick must be the next seq.
type seqCheck map[string]uint64

func (s seqCheck) tick(t *testing.T, m wireMsg) {
	t.Helper()
	if err := s.check(m); err != nil {
		t.Fatal(err)
	}
}

// check is tick for goroutines other than the test's.
func (s seqCheck) check(m wireMsg) error {
	if _, err := feed.DecodeJSON(m.raw); err != nil {
		return fmt.Errorf("tick %s: %w", m.raw, err)
	}
	if last, ok := s[m.Sym]; ok && m.Seq != last+1 {
		return fmt.Errorf("%s seq %d after %d: not contiguous", m.Sym, m.Seq, last)
	}
	s[m.Sym] = m.Seq
	return nil
}

// readUntilError reads from conn until it fails and returns the error.
func readUntilError(conn *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			return err
		}
	}
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{"feed.sim.rate": "5000"})
	c := connect(t, tg, "")
	c.send(`{"op":"subscribe","id":1,"symbols":["AAPL","MSFT"]}`)
	if m := c.next(); m.Type != "subscribed" || m.ID == nil || *m.ID != 1 || strings.Join(m.Symbols, ",") != "AAPL,MSFT" {
		t.Fatalf("first message %s, want the subscribed reply for id 1", m.raw)
	}

	seqs := seqCheck{}
	counts := map[string]int{}
	for n := 0; n < 200 || counts["MSFT"] == 0; n++ {
		m := c.next()
		if m.Type != "tick" || (m.Sym != "AAPL" && m.Sym != "MSFT") {
			t.Fatalf("message %s, want an AAPL or MSFT tick", m.raw)
		}
		seqs.tick(t, m)
		counts[m.Sym]++
	}

	c.send(`{"op":"list","id":2}`)
	for {
		m := c.next()
		if m.Type == "tick" {
			seqs.tick(t, m)
			continue
		}
		if m.Type != "list" || m.ID == nil || *m.ID != 2 || strings.Join(m.Symbols, ",") != "AAPL,MSFT" {
			t.Fatalf("reply %s, want list of AAPL,MSFT for id 2", m.raw)
		}
		break
	}

	c.send(`{"op":"subscribe","id":3,"symbols":["NOPE"]}`)
	c.send(`{"op":"unsubscribe","id":4,"symbols":["AAPL"]}`)
	for gotErr := false; ; {
		m := c.next()
		if m.Type == "tick" {
			seqs.tick(t, m)
			continue
		}
		if m.Type == "error" && m.ID != nil && *m.ID == 3 && m.Code == "unknown_symbol" {
			gotErr = true
			continue
		}
		if !gotErr || m.Type != "unsubscribed" || m.ID == nil || *m.ID != 4 || strings.Join(m.Symbols, ",") != "AAPL" {
			t.Fatalf("reply %s, want an unknown_symbol error for id 3, then unsubscribed AAPL for id 4", m.raw)
		}
		break
	}
	// Ticks queued before the reply were sent before it; none may follow.
	for msft := 0; msft < 50; {
		m := c.next()
		if m.Type != "tick" || m.Sym != "MSFT" {
			t.Fatalf("after unsubscribing AAPL got %s, want only MSFT ticks", m.raw)
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
	conn, resp, err := dial(ctx, tg.ws, nil)
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
	first.conn.Close(websocket.StatusNormalClosure, "")
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		conn, _, err := dial(ctx, tg.ws, nil)
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

	conn, resp, err := dial(ctx, tg.ws, http.Header{"Origin": {"http://evil.example"}})
	if err == nil {
		conn.CloseNow()
		t.Error("dial with Origin http://evil.example succeeded")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("dial with Origin http://evil.example: %v (response %v), want HTTP 403", err, resp)
	}

	for _, origin := range []string{"http://localhost:3000", "http://" + strings.TrimPrefix(tg.url, "http://")} {
		conn, _, err := dial(ctx, tg.ws, http.Header{"Origin": {origin}})
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
		if m := c.next(); m.Type != "subscribed" || m.ID != nil || strings.Join(m.Symbols, ",") != "AAPL,MSFT,NVDA" {
			t.Fatalf("first message %s, want subscribed AAPL,MSFT,NVDA without an id", m.raw)
		}
		wg.Go(func() {
			seqs := seqCheck{}
			for range 300 {
				m, err := c.read()
				if err == nil && m.Type != "tick" {
					err = fmt.Errorf("got %s, want ticks only", m.raw)
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
	c.conn.SetReadLimit(1 << 20) // measure frames, don't fail on them
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	largest, batched := 0, 0
	for range 500 {
		_, frame, err := c.conn.Read(ctx)
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
