package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/tickgate/tickgate/feed"
)

func TestParseTick(t *testing.T) {
	t.Parallel()
	ticks := []feed.Tick{
		{Symbol: "AAPL", Seq: 42, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789},
		{Symbol: "BRK.B", Seq: 1, Price: 470, Size: 0, Bid: 469.99, Ask: 470.01, TS: 1},
		{Symbol: "X_Y-Z.0", Seq: 1<<64 - 1, Price: 1e-2, Size: 1 << 40, Bid: 1e9, Ask: 1e9, TS: 1<<63 - 1},
	}
	for _, tk := range ticks {
		line := tk.AppendJSON(nil)
		got, ok := parseTick(line)
		if !ok || string(got.sym) != tk.Symbol || got.seq != tk.Seq || got.ts != tk.TS {
			t.Errorf("parseTick(%s) = %q %d %d %v; want %q %d %d", line, got.sym, got.seq, got.ts, ok, tk.Symbol, tk.Seq, tk.TS)
		}
	}
}

func TestParseTickOtherLayouts(t *testing.T) {
	t.Parallel()
	// Same keys in another order still parse (the fallback search).
	got, ok := parseTick([]byte(`{"type":"tick","sym":"MSFT","px":1,"seq":7,"ts":99,"bid":1}`))
	if !ok || string(got.sym) != "MSFT" || got.seq != 7 || got.ts != 99 {
		t.Errorf("reordered tick: %q %d %d %v", got.sym, got.seq, got.ts, ok)
	}
}

func TestParseTickRejects(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		``,
		`{"type":"subscribed","symbols":["AAPL"]}`,
		`{"type":"error","code":"unknown_symbol","msg":"x"}`,
		`{"type":"tick","sym":"AAPL"`,
		`{"type":"tick","sym":"","seq":1,"ts":1}`,
		`{"type":"tick","sym":"AAPL","seq":x,"ts":1}`,
		`{"type":"tick","sym":"AAPL","seq":1,"ts":}`,
		`{"type":"tick","sym":"AAPL","seq":99999999999999999999999,"ts":1}`,
		`{"type":"tick","sym":"AAPL","seq":1,"ts":9223372036854775808}`,
	} {
		if got, ok := parseTick([]byte(line)); ok {
			t.Errorf("parseTick(%s) = %+v, want not a tick", line, got)
		}
	}
}

// frameOf joins the messages with '\n' as the gateway batches them.
func frameOf(msgs ...[]byte) []byte { return bytes.Join(msgs, []byte("\n")) }

func tickJSON(sym string, seq uint64, ts int64) []byte {
	tk := feed.Tick{Symbol: sym, Seq: seq, Price: 1, Bid: 1, Ask: 1, TS: ts}
	return tk.AppendJSON(nil)
}

func TestOnFrameCounts(t *testing.T) {
	t.Parallel()
	sh := newShared(1)
	c := newClient(0, "", []string{"AAPL", "MSFT"}, false)
	// Before the window: bases are set, nothing counted.
	c.onFrame(frameOf([]byte(`{"type":"subscribed","symbols":["AAPL","MSFT"]}`), tickJSON("AAPL", 5, 1), tickJSON("MSFT", 1, 1)), sh)
	if c.n != (counters{}) {
		t.Fatalf("counted outside the window: %+v", c.n)
	}
	sh.phase.Store(phaseMeasure)
	c.onFrame(frameOf(tickJSON("AAPL", 6, 1), tickJSON("AAPL", 9, 1), tickJSON("MSFT", 2, 1)), sh)
	c.onFrame(frameOf(tickJSON("AAPL", 9, 1), tickJSON("NVDA", 1, 1)), sh)
	c.onFrame(frameOf(tickJSON("AAPL", 10, 1), tickJSON("MSFT", 3, 1)), sh)
	want := counters{deliveries: 6, frames: 3, gaps: 2, repeats: 1, unexpected: 1}
	got := c.n
	got.bytes = 0
	if got != want {
		t.Errorf("counters = %+v, want %+v", got, want)
	}
	if n := sh.shards[0].h.TotalCount(); n != 6 {
		t.Errorf("latencies recorded = %d, want 6", n)
	}
	// A symbol whose first tick arrives in the window: delivered, no latency (it may be a snapshot).
	c2 := newClient(1, "", []string{"AAPL"}, false)
	c2.onFrame(tickJSON("AAPL", 3, 1), sh)
	if c2.n.deliveries != 1 || sh.shards[0].h.TotalCount() != 6 {
		t.Errorf("first tick in window: %+v, latencies %d", c2.n, sh.shards[0].h.TotalCount())
	}
}

func TestOnFrameManySymbols(t *testing.T) {
	t.Parallel()
	syms := make([]string, linearSlots+4)
	for i := range syms {
		syms[i] = "S" + string(rune('A'+i))
	}
	c := newClient(0, "", syms, false)
	sh := newShared(1)
	sh.phase.Store(phaseMeasure)
	last := syms[len(syms)-1]
	c.onFrame(frameOf(tickJSON(last, 1, 1), tickJSON(last, 2, 1)), sh)
	if c.n.deliveries != 2 || c.n.unexpected != 0 {
		t.Errorf("map slots: %+v", c.n)
	}
}

func TestOnFrameAllocs(t *testing.T) {
	c := newClient(0, "", []string{"AAPL", "MSFT"}, false)
	sh := newShared(1)
	sh.phase.Store(phaseMeasure)
	frame := frameOf(tickJSON("AAPL", 1, 1), tickJSON("MSFT", 1, 1))
	seq := uint64(1)
	allocs := testing.AllocsPerRun(100, func() {
		seq++
		c.last[0], c.last[1] = seq-1, seq-1
		c.onFrame(frame, sh)
	})
	if allocs != 0 {
		t.Errorf("onFrame allocates %.1f times per frame", allocs)
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(frameOf(tickJSON("AAPL", 1, 1), tickJSON("MSFT", 2, 3)))
	f.Add([]byte(`{"type":"tick","sym":"AAPL","seq":1,"ts":-5}`))
	f.Add([]byte(`{"type":"tick","sym":"AAPL","seq":18446744073709551615,"ts":1}` + "\n\n"))
	f.Add([]byte(`{"type":"tick","sym":"`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		sh := newShared(1)
		sh.phase.Store(phaseMeasure)
		c := newClient(0, "", []string{"AAPL", "MSFT"}, false)
		c.onFrame(frame, sh)
		c.onFrame(frame, sh)
		for line, rest := nextLine(frame); ; line, rest = nextLine(rest) {
			if tk, ok := parseTick(line); ok && (len(tk.sym) == 0 || tk.ts < 0) {
				t.Fatalf("parseTick(%q) accepted %+v", line, tk)
			}
			if len(rest) == 0 {
				break
			}
		}
	})
}

func TestParseTickConflated(t *testing.T) {
	t.Parallel()
	got, ok := parseTick([]byte(`{"type":"tick","sym":"AAPL","seq":1050,"px":1,"sz":1,"bid":1,"ask":1,"ts":99,"n":3}`))
	if !ok || got.seq != 1050 || got.ts != 99 || got.n != 3 {
		t.Errorf("conflated tick: %+v %v, want seq 1050 ts 99 n 3", got, ok)
	}
	if got, _ := parseTick(tickJSON("AAPL", 7, 5)); got.n != 1 {
		t.Errorf("plain tick: n = %d, want 1", got.n)
	}
}

// TestOnFrameConflatedJumps checks the contract's rule: a jump of at most n
// is contiguous, a larger one is a gap of the seqs no tick stood for.
func TestOnFrameConflatedJumps(t *testing.T) {
	t.Parallel()
	sh := newShared(1)
	c := newClient(0, "", []string{"AAPL"}, false)
	c.onFrame(tickJSON("AAPL", 10, 1), sh) // base
	sh.phase.Store(phaseMeasure)
	conflated := func(seq, n int) []byte {
		return []byte(fmt.Sprintf(`{"type":"tick","sym":"AAPL","seq":%d,"px":1,"sz":1,"bid":1,"ask":1,"ts":1,"n":%d}`, seq, n))
	}
	c.onFrame(frameOf(conflated(13, 3), conflated(15, 2)), sh) // 11..13, 14..15: no gap
	c.onFrame(conflated(20, 3), sh)                            // 18..20: 16 and 17 missing
	c.onFrame(frameOf([]byte(`{"type":"notice","code":"conflated","msg":"x"}`), tickJSON("AAPL", 20, 1)), sh)
	want := counters{deliveries: 4, frames: 3, gaps: 2, repeats: 1, conflated: 3, notices: 1}
	got := c.n
	got.bytes = 0
	if got != want {
		t.Errorf("counters = %+v, want %+v", got, want)
	}
}

func TestCentrifugoLine(t *testing.T) {
	t.Parallel()
	c := newClient(0, "", []string{"AAPL"}, false)
	tick := tickJSON("AAPL", 4, 9)
	push := append(append([]byte(`{"push":{"channel":"AAPL","pub":{"data":`), tick...), `}}}`...)
	if got := c.centrifugoLine(push); !bytes.Equal(got, tick) {
		t.Errorf("push unwrapped to %s, want %s", got, tick)
	}
	if got := c.centrifugoLine([]byte(`{"id":2,"subscribe":{}}`)); got != nil || c.protoErrs != 0 {
		t.Errorf("subscribe reply: %s, errors %d", got, c.protoErrs)
	}
	if c.centrifugoLine([]byte(`{"id":3,"error":{"code":103,"message":"permission denied"}}`)); c.protoErrs != 1 {
		t.Errorf("error reply counted %d times, want 1", c.protoErrs)
	}
}

// TestBookMessages: a book client counts book messages as ticks (seq, ts
// and n), its snapshot and updates alike, and takes a tick for unexpected;
// a ticks client takes a book message for unexpected.
func TestBookMessages(t *testing.T) {
	t.Parallel()
	book := func(typ string, seq uint64, tail string) []byte {
		return fmt.Appendf(nil, `{"type":%q,"sym":"AAPL","seq":%d,"checksum":57838067,"bids":[[189.3,200],[189.29,500]],"asks":[[189.32,100]],"ts":%d%s}`, typ, seq, 1000+seq, tail)
	}
	for _, line := range [][]byte{book("book", 12, ""), book("book_update", 12, `,"n":3`), book("book_update", 12, `,"delayed":true,"n":3`)} {
		got, ok := parseBook(line)
		if !ok || string(got.sym) != "AAPL" || got.seq != 12 || got.ts != 1012 || (got.n == 3) != bytes.Contains(line, []byte(`"n":3`)) {
			t.Errorf("parseBook(%s) = %+v %v", line, got, ok)
		}
	}
	for _, bad := range []string{`{"type":"bookx","sym":"AAPL","seq":1,"ts":1}`, `{"type":"book","seq":1,"ts":1}`, `{"type":"tick","sym":"AAPL","seq":1,"ts":1}`} {
		if _, ok := parseBook([]byte(bad)); ok {
			t.Errorf("parseBook(%s) ok", bad)
		}
	}
	sh := newShared(1)
	sh.phase.Store(phaseMeasure)
	c := newClient(0, "", []string{"AAPL"}, false)
	c.book = true
	c.onFrame(frameOf(book("book", 12, ""), book("book_update", 13, ""), book("book_update", 16, `,"n":3`), book("book_update", 18, ""),
		book("book", 30, ""), book("book_update", 31, ""), tickJSON("AAPL", 32, 1)), sh) // a snapshot is a new base, not a gap
	if want := (counters{deliveries: 6, frames: 1, conflated: 1, gaps: 1, unexpected: 1}); c.n.deliveries != want.deliveries || c.n.conflated != want.conflated || c.n.gaps != want.gaps || c.n.unexpected != want.unexpected {
		t.Errorf("book client counted %+v, want %+v", c.n, want)
	}
	ticks := newClient(1, "", []string{"AAPL"}, false)
	ticks.onFrame(frameOf(book("book", 1, "")), sh)
	if ticks.n.unexpected != 1 || ticks.n.deliveries != 0 {
		t.Errorf("ticks client counted %+v for a book", ticks.n)
	}
}
