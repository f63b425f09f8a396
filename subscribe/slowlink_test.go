package subscribe

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/sim"
	"github.com/tickgate/tickgate/internal/slowlink"
	"github.com/tickgate/tickgate/internal/ssetest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// slowLinkWatch is how long TestSlowLinkKeepsBacklogInQueue watches its
// clients.
const slowLinkWatch = 30 * time.Second

// unsentBound is what a client's socket may hold unsent once it has been
// found full: notsentLowat (a paced writer writes at most half of it in
// messages, and only once the socket holds less than half), plus a frame
// header and control frames; an event stream's event adds its id, and a
// "data: " a message (idBound). Before, a lane's frame of up to
// MaxFrameBytes may go in whole (the kernel checks the mark per segment
// it adds, and early in a connection a segment may be large): firstBound;
// the second after the socket is first found full lets that drain.
const (
	unsentBound = notsentLowat + 1<<10
	idBound     = maxEventIDBytes + 1<<10
	firstBound  = notsentLowat + 32<<10 + idBound
)

// TestSlowLinkKeepsBacklogInQueue runs the gateway's simulated feed (1,000
// ticks/s over about 100 symbols) to a "*" client behind a 500 kbit/s link,
// half what the feed needs, over each transport, and a bystander on
// loopback. The slow client's socket never holds more than unsentBound
// unsent: its backlog waits in its queue, which conflates once and stays
// so (at most 2 conflated/live notices), and every tick it gets after the
// notice was its symbol's newest when the frame left the queue. Pings (or
// heartbeats) get through (pong_timeout is 3 s) and it is never closed,
// until the drain's 1001, which gets through too. The bystander gets every
// seq.
func TestSlowLinkKeepsBacklogInQueue(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"ws", "sse"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			link := slowlink.New(t, slowlink.Config{Rate: "500kbit"})
			g := startSlowLinkGateway(t, link)
			by := g.record(wstest.Dial(t, g.url+"/ws?symbols=*").Conn)
			var slow *frameRecord
			if tr == "ws" {
				slow = g.record(wstest.DialWith(t, g.url+"/ws?symbols=*", &websocket.DialOptions{
					HTTPClient: &http.Client{Transport: &http.Transport{DialContext: link.DialContext, DisableKeepAlives: true}},
				}).Conn)
			} else {
				slow = g.recordEvents(ssetest.Dial(t, "http"+strings.TrimPrefix(g.url, "ws")+"/sse?symbols=*", ssetest.Options{Dial: link.DialContext}))
			}
			bound := unsentBound
			if tr == "sse" {
				bound += idBound
			}
			watchSlowLink(t, g, link, by, slow, bound)
		})
	}
}

// watchSlowLink watches by and slow for slowLinkWatch, drains the gateway
// and checks what they got (TestSlowLinkKeepsBacklogInQueue).
func watchSlowLink(t *testing.T, g *slowLinkGateway, link *slowlink.Link, by, slow *frameRecord, bound int) {
	unsent := g.sampleUnsent(link.Peer)
	time.Sleep(slowLinkWatch) // the clients read meanwhile; nothing is polled for
	g.drain()
	u := unsent()
	if u.pacedSamples == 0 {
		t.Fatalf("never found the slow client's socket full for a second (%d samples)", u.samples)
	}
	if u.first > firstBound || u.paced > bound {
		t.Errorf("the slow client's socket held up to %d bytes unsent before it was first found full and a second after, %d since; want at most %d and %d",
			u.first, u.paced, firstBound, bound)
	}
	if slow.code != int(websocket.StatusGoingAway) {
		t.Errorf("slow client ended with %v (close %d), want the drain's 1001", slow.err, slow.code)
	}
	if n := gatheredWith(t, g.reg, "tickgate_disconnects_total", "reason", "shutdown"); n != 2 {
		t.Errorf("%v sessions ended by the drain, want both: one ended before", n)
	}
	checkConflatedOnce(t, slow)
	checkNewestWhenWritten(t, by, slow)
	t.Logf("slow client: %d frames, %d ticks, unsent at most %d bytes, then %d over %d samples; bystander: %d frames, %d ticks",
		len(slow.frames), slow.ticks(), u.first, u.paced, u.samples, len(by.frames), by.ticks())
}

// slowLinkGateway is a gateway on a slow link's host address: the
// simulated feed, one shard (so every client's queue gets ticks in the
// same order), and pings every second.
type slowLinkGateway struct {
	t      *testing.T
	srv    *Server
	reg    *prometheus.Registry
	url    string
	stop   func()
	wg     sync.WaitGroup // the recorders
	closed chan struct{}  // closed once the drain is done
}

func startSlowLinkGateway(t *testing.T, link *slowlink.Link) *slowLinkGateway {
	t.Helper()
	src, err := sim.New(sim.Config{Rate: 1000, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	engine, err := fanout.New(fanout.Config{Shards: 1}, src.Listings(), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Config{PingInterval: time.Second, PongTimeout: 3 * time.Second}, engine, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(link.Host, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.HandleFunc("GET /sse", srv.ServeSSE)
	hs := &http.Server{Handler: mux}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { engine.Run(ctx) })
	every := &everySymbol{Sink: engine, left: len(src.Listings()), seen: map[string]bool{}, done: make(chan struct{})}
	wg.Go(func() { src.Run(ctx, every) })
	wg.Go(func() { hs.Serve(ln) })
	g := &slowLinkGateway{t: t, srv: srv, reg: reg, url: "ws://" + ln.Addr().String(), closed: make(chan struct{})}
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer dcancel()
			if err := srv.Drain(dctx, 0); err != nil {
				t.Errorf("drain: %v", err)
			}
			close(g.closed)
			hs.Close()
			cancel()
			wg.Wait()
		})
	}
	t.Cleanup(g.stop)
	// Clients come once every symbol has ticked: a symbol's first tick
	// after a subscription brings an epoch notice, which no tick queued
	// before it may be merged past (fanout/queue.go).
	select {
	case <-every.done:
	case <-time.After(30 * time.Second):
		t.Fatal("some symbol never ticked")
	}
	engine.Sync()
	return g
}

// everySymbol passes ticks on to Sink and closes done once every one of
// left symbols has had one.
type everySymbol struct {
	feed.Sink
	left int
	seen map[string]bool // the source's goroutine's
	done chan struct{}
}

func (e *everySymbol) Publish(t feed.Tick) {
	e.Sink.Publish(t)
	if e.left > 0 && !e.seen[t.Symbol] {
		e.seen[t.Symbol] = true
		if e.left--; e.left == 0 {
			close(e.done)
		}
	}
}

// drain closes every session with 1001 and waits for the recorders.
func (g *slowLinkGateway) drain() {
	g.stop()
	g.wg.Wait()
}

// unsentSamples is what sampleUnsent saw of a socket: the most it held
// unsent until a second after it was first found full (first), and after
// (paced, over pacedSamples).
type unsentSamples struct {
	first, paced, samples, pacedSamples int
}

// sampleUnsent samples, every 20 ms until the drain, what the socket of
// the session from peer holds unsent; done returns what it saw.
func (g *slowLinkGateway) sampleUnsent(peer netip.Addr) (done func() unsentSamples) {
	var u unsentSamples
	var fullAt time.Time
	end := make(chan struct{})
	go func() {
		defer close(end)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-g.closed:
				return
			case <-tick.C:
			}
			n, paced, ok := g.unsentOf(peer)
			switch {
			case !ok:
				continue
			case paced && fullAt.IsZero():
				fullAt = time.Now()
			}
			u.samples++
			if fullAt.IsZero() || time.Since(fullAt) < time.Second {
				u.first = max(u.first, n)
			} else {
				u.paced, u.pacedSamples = max(u.paced, n), u.pacedSamples+1
			}
		}
	}()
	return func() unsentSamples { <-end; return u }
}

// unsentOf reads what the socket of the session from peer holds unsent,
// and whether it has been found full.
func (g *slowLinkGateway) unsentOf(peer netip.Addr) (unsent int, paced, ok bool) {
	g.srv.mu.Lock()
	defer g.srv.mu.Unlock()
	for s := range g.srv.sessions {
		if sc, isSys := s.out.conn.(syscall.Conn); isSys && s.ip == peer {
			n, err := slowlink.Unsent(sc)
			return n, s.out.lastBlock.Load() != 0, err == nil
		}
	}
	return 0, false, false
}

// frameRecord is what one client received: its frames' (or events')
// messages, in order, and the close code and error its connection ended
// with.
type frameRecord struct {
	frames [][]msg
	code   int
	err    error
}

func (r *frameRecord) ticks() int {
	n := 0
	for _, f := range r.frames {
		for _, m := range f {
			if m.Type == "tick" {
				n++
			}
		}
	}
	return n
}

// record reads conn's frames until it ends, on a goroutine of its own.
func (g *slowLinkGateway) record(conn *websocket.Conn) *frameRecord {
	r := &frameRecord{}
	g.wg.Go(func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				r.code, r.err = int(websocket.CloseStatus(err)), err
				return
			}
			var f []msg
			for raw := range splitLines(data) {
				m, err := wstest.Decode(raw)
				if err != nil {
					r.err = err
					return
				}
				f = append(f, m)
			}
			r.frames = append(r.frames, f)
		}
	})
	return r
}

// recordEvents reads c's events until its stream ends, on a goroutine of
// its own.
func (g *slowLinkGateway) recordEvents(c *ssetest.Client) *frameRecord {
	r := &frameRecord{}
	g.wg.Go(func() {
		for {
			ev, err := c.NextEvent()
			if err != nil {
				r.err = err
				return
			}
			if ev.Type == "close" {
				var cl ssetest.Closed
				r.err = json.Unmarshal([]byte(ev.Data), &cl)
				r.code = cl.Code
				return
			}
			f, err := ssetest.Messages(ev)
			if err != nil {
				r.err = err
				return
			}
			r.frames = append(r.frames, f)
		}
	})
	return r
}

// checkConflatedOnce checks that slow was conflated, and told of it at
// most twice (conflated, and at most one live).
func checkConflatedOnce(t *testing.T, slow *frameRecord) {
	t.Helper()
	var notices []string
	for _, f := range slow.frames {
		for _, m := range f {
			if m.Type == "notice" && (m.Code == "conflated" || m.Code == "live") {
				notices = append(notices, m.Code)
			}
		}
	}
	if len(notices) == 0 || notices[0] != "conflated" || len(notices) > 2 {
		t.Errorf("slow client's notices %q in %v, want conflated and at most one live", notices, slowLinkWatch)
	}
}

// checkNewestWhenWritten checks that every tick slow got after its
// conflated notice was its symbol's newest when its frame left the queue,
// and that by got every seq. With one shard every queue gets the ticks in
// the same order, by's: a frame that holds the tick at position p of it
// left the queue after every tick up to p had been queued, so a tick of it
// whose symbol's next tick comes before p in by's order was not the newest.
func checkNewestWhenWritten(t *testing.T, by, slow *frameRecord) {
	t.Helper()
	type key struct {
		sym string
		seq uint64
	}
	pos, last := map[key]int{}, map[string]uint64{}
	for _, f := range by.frames {
		for _, m := range f {
			if m.Type == "notice" && (m.Code == "conflated" || m.Code == "live") {
				t.Fatalf("bystander got %q", m.Code)
			}
			if m.Type != "tick" {
				continue
			}
			if l, ok := last[m.Sym]; ok && (m.Seq != l+1 || m.N > 1) {
				t.Fatalf("bystander: %s seq %d (n %d) after %d", m.Sym, m.Seq, m.N, l)
			}
			last[m.Sym] = m.Seq
			pos[key{m.Sym, m.Seq}] = len(pos)
		}
	}
	conflated, checked := false, 0
	for i, f := range slow.frames {
		newest := -1
		for _, m := range f {
			if p, ok := pos[key{m.Sym, m.Seq}]; ok && m.Type == "tick" {
				newest = max(newest, p)
			}
		}
		for _, m := range f {
			conflated = conflated || m.Code == "conflated"
			if !conflated || m.Type != "tick" {
				continue
			}
			if next, ok := pos[key{m.Sym, m.Seq + 1}]; ok && next < newest {
				t.Fatalf("frame %d: %s seq %d left the queue after seq %d was queued", i, m.Sym, m.Seq, m.Seq+1)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no conflated tick to check")
	}
}

// splitLines yields a frame's '\n'-separated messages.
func splitLines(data []byte) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(data) > 0 {
			i := 0
			for i < len(data) && data[i] != '\n' {
				i++
			}
			if !yield(data[:i]) {
				return
			}
			data = data[min(i+1, len(data)):]
		}
	}
}
