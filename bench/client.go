package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"
)

// Phases of a run. Clients count only in phaseMeasure; a read error before
// phaseClosing is a disconnect by the server.
const (
	phaseRamp int32 = iota // connecting and warming up: seqs tracked, nothing counted
	phaseMeasure
	phaseDone    // window over, connections still open
	phaseClosing // the harness is closing connections
)

const (
	dialTimeout   = 10 * time.Second
	clientReadMax = 16 << 20 // read limit per message; the gateway's frames are <= 64 KiB
	maxLatencyUS  = 60_000_000
	initialBuf    = 4096
	linearSlots   = 16 // clients with more symbols look slots up in a map
)

// newLatencyHist records microseconds, 1 µs to 60 s, 3 significant digits.
func newLatencyHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, maxLatencyUS, 3)
}

// histShard is one of the mutex-guarded latency histograms clients share:
// one per client would cost ~140 KB each.
type histShard struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
	_  [48]byte // keep neighbouring shards' locks off one cache line
}

// record adds one latency in nanoseconds, clamped to the histogram's range.
// The caller holds s.mu.
func (s *histShard) recordLocked(ns int64) {
	us := min(max(ns/1000, 1), maxLatencyUS)
	_ = s.h.RecordValue(us)
}

// shared is the state every client goroutine of one run sees.
type shared struct {
	phase  atomic.Int32
	shards []histShard
}

func newShared(n int) *shared {
	sh := &shared{shards: make([]histShard, n)}
	for i := range sh.shards {
		sh.shards[i].h = newLatencyHist()
	}
	return sh
}

// counters are one client's figures for the measured window. Only the
// client's goroutine writes them; they are read after it has exited.
type counters struct {
	deliveries, frames, bytes uint64
	gaps, repeats, unexpected uint64
	conflated, notices        uint64 // ticks carrying n > 1 (bars: span > 1); notice messages
	overRate                  uint64 // symbols delivered faster than the asked max_rate
	partials                  uint64 // progress updates of forming bars
}

func (c *counters) add(o counters) {
	c.deliveries += o.deliveries
	c.frames += o.frames
	c.bytes += o.bytes
	c.gaps += o.gaps
	c.repeats += o.repeats
	c.unexpected += o.unexpected
	c.conflated += o.conflated
	c.notices += o.notices
	c.overRate += o.overRate
	c.partials += o.partials
}

// client is one WebSocket connection and its per-symbol seq state.
type client struct {
	id    int
	url   string
	syms  []string
	last  []uint64       // last seq seen per slot; 0 until the first tick (the base, a snapshot)
	slots map[string]int // sym → slot, only for clients with many symbols
	slow  bool           // subscribes and never reads
	proto string         // wire protocol: protoTickgate or protoCentrifugo
	hello []byte         // sent after the handshake (a subscribe op); nil for ?symbols=
	hc    *http.Client   // the handshake's client (its dialer picks the source address)
	inWin []uint32       // ticks per slot in the window, when max_rate is asked
	bars  int64          // the interval of the bar stream subscribed to; 0: ticks
	book  bool           // subscribed to the book stream: its messages count as ticks do

	conn    *websocket.Conn // set by dial; read by the run after the dial phase
	buf     []byte
	n       counters
	dropErr error // why the server ended the connection, if it did during the run

	protoErrs uint64 // error replies (Centrifugo), counted in every phase
}

func newClient(id int, url string, syms []string, slow bool) *client {
	c := &client{id: id, url: url, syms: syms, last: make([]uint64, len(syms)), slow: slow, proto: protoTickgate}
	if len(syms) > linearSlots {
		c.slots = make(map[string]int, len(syms))
		for i, s := range syms {
			c.slots[s] = i
		}
	}
	return c
}

// dial opens the connection, performs the protocol's own handshake (the
// subscribe op, or Centrifugo's connect and subscribes) and reports how
// long that took.
func (c *client) dial(ctx context.Context, hc *http.Client) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if c.hc != nil {
		hc = c.hc
	}
	start := time.Now()
	conn, _, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		return 0, err
	}
	conn.SetReadLimit(clientReadMax)
	if err := c.greet(ctx, conn); err != nil {
		conn.CloseNow()
		return 0, err
	}
	c.conn = conn
	return time.Since(start), nil
}

// greet sends what the protocol needs after the WebSocket handshake.
func (c *client) greet(ctx context.Context, conn *websocket.Conn) error {
	if c.proto == protoCentrifugo {
		return centrifugoGreet(ctx, conn, c.syms)
	}
	if c.hello != nil {
		return conn.Write(ctx, websocket.MessageText, c.hello)
	}
	return nil
}

// readLoop reads frames until the connection ends. The background context
// keeps coder/websocket from arming a timer per read; the run ends the loop
// by closing the connection.
func (c *client) readLoop(sh *shared) {
	for {
		_, r, err := c.conn.Reader(context.Background())
		if err == nil {
			var n int
			n, err = readMsg(r, &c.buf)
			if err == nil {
				c.onFrame(c.buf[:n], sh)
				continue
			}
		}
		if sh.phase.Load() < phaseClosing {
			c.dropErr = err
		}
		return
	}
}

// readMsg reads one whole message into *buf, growing it as needed.
func readMsg(r io.Reader, buf *[]byte) (int, error) {
	if *buf == nil {
		*buf = make([]byte, initialBuf)
	}
	n := 0
	for {
		if n == len(*buf) {
			*buf = append(*buf, make([]byte, len(*buf))...)
		}
		m, err := r.Read((*buf)[n:])
		n += m
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// onFrame handles one frame: one clock read, then every message in it.
func (c *client) onFrame(frame []byte, sh *shared) {
	var hs *histShard
	if sh.phase.Load() == phaseMeasure {
		c.n.frames++
		c.n.bytes += uint64(len(frame))
		hs = &sh.shards[c.id%len(sh.shards)]
		hs.mu.Lock()
	}
	now := time.Now().UnixNano()
	for len(frame) > 0 {
		var line []byte
		line, frame = nextLine(frame)
		if c.proto == protoCentrifugo {
			if line = c.centrifugoLine(line); line == nil {
				continue
			}
		}
		if t, ok := parseTick(line); ok && c.bars == 0 && !c.book {
			c.onTick(t, now, hs)
		} else if ok {
			c.onUnexpected(hs) // a tick on a bar or book subscription
		} else if t, ok := parseBook(line); ok && c.book {
			c.onTick(t, now, hs)
		} else if ok {
			c.onUnexpected(hs)
		} else if b, ok := parseBar(line); ok {
			c.onBar(b, now, hs)
		} else if bytes.HasPrefix(line, noticePrefix) {
			if hs != nil {
				c.n.notices++
			}
		} else if bytes.HasPrefix(line, errorPrefix) {
			c.protoErrs++
		}
	}
	if hs != nil {
		hs.mu.Unlock()
	}
}

// onTick checks the tick's seq against the last one of its symbol and,
// while measuring (hs != nil), counts it and records its latency.
func (c *client) onTick(t tickFields, now int64, hs *histShard) {
	s := c.slot(t.sym)
	if s < 0 {
		c.onUnexpected(hs)
		return
	}
	last := c.last[s]
	if t.seq > last {
		c.last[s] = t.seq
	}
	if hs == nil {
		return // outside the window only the seqs are tracked
	}
	c.n.deliveries++
	if c.inWin != nil {
		c.inWin[s]++
	}
	if t.span > 1 || t.span == 0 && t.n > 1 {
		c.n.conflated++
	}
	switch {
	case last == 0, t.base:
		// The first tick sets the base. It is usually the snapshot, whose
		// ts is old, so its latency is not recorded; so does a book
		// snapshot, whatever its seq.
		return
	case t.seq <= last:
		c.n.repeats++
	case t.seq-t.n > last:
		// A real gap: the tick stands for seqs seq-n+1..seq, and the
		// ones between last and those were never delivered. A conflated
		// jump (seq advances by at most n) is not one.
		c.n.gaps += t.seq - t.n - last
	}
	hs.recordLocked(now - t.ts)
}

// onBar checks a final bar as onTick checks a tick, and measures its
// latency from the bar's end (t plus the interval): the earliest it could
// have been final. A bar's seq is its bucket number, so what says it
// follows on from the client's last bar is prev, not seq − 1: a bar whose
// prev is past the last one seen is a gap (counted as one, however many
// buckets it spans); a conflated bar ("span" > 1) or one the gateway saw
// no bar before (prev 0) is taken as following on. A partial update is
// only counted; a bar of another stream than the one subscribed to is
// unexpected.
func (c *client) onBar(b barFields, now int64, hs *histShard) {
	switch {
	case b.interval != c.bars:
		c.onUnexpected(hs)
	case b.partial:
		if hs != nil {
			c.n.partials++
		}
	default:
		n := uint64(1) // a gap of one bar, or the client's first bar
		if s := c.slot(b.sym); s >= 0 && c.last[s] != 0 && b.seq > c.last[s] {
			if last := c.last[s]; b.span > 1 || b.prev == 0 || b.prev <= last {
				n = b.seq - last // follows on
			} else {
				n = b.seq - last - 1 // seq − n = last + 1: one missed
			}
		}
		c.onTick(tickFields{sym: b.sym, seq: b.seq, ts: b.end, n: n, span: b.span}, now, hs)
	}
}

// onUnexpected counts, while measuring, a message the client did not
// subscribe to.
func (c *client) onUnexpected(hs *histShard) {
	if hs != nil {
		c.n.unexpected++
	}
}

// checkRate counts the client's symbols delivered more often than maxRate
// per second over secs, with one update of slack for the leading edge.
func (c *client) checkRate(maxRate, secs float64) {
	for _, n := range c.inWin {
		if float64(n) > maxRate*secs+1 {
			c.n.overRate++
		}
	}
}

// slot finds sym among the client's symbols; -1 if it is not one of them.
func (c *client) slot(sym []byte) int {
	if c.slots != nil {
		if s, ok := c.slots[string(sym)]; ok {
			return s
		}
		return -1
	}
	for i, s := range c.syms {
		if s == string(sym) {
			return i
		}
	}
	return -1
}

// drainSlow reads a never-reading client's backlog until the server's
// close (or ctx ends) and returns how the connection ended.
func (c *client) drainSlow(ctx context.Context) error {
	for {
		_, r, err := c.conn.Reader(ctx)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
	}
}
