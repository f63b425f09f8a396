package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// barJSON is a final bar as docs/protocol.md shows it; tail is appended
// before the closing brace (`,"span":3`, `,"partial":true`).
func barJSON(stream, sym string, t int64, seq uint64, tail string) []byte {
	return fmt.Appendf(nil, `{"type":"bar","stream":%q,"sym":%q,"t":%d,"o":189.1,"h":189.4,"l":189,"c":189.3,"v":12400,"n":57,"seq":%d%s}`,
		stream, sym, t, seq, tail)
}

func TestParseBar(t *testing.T) {
	t.Parallel()
	const t0 = 1732470000000000000
	for _, c := range []struct {
		line []byte
		want barFields
	}{
		{barJSON("bars.1s", "AAPL", t0, 12, ""), barFields{sym: []byte("AAPL"), seq: 12, interval: 1e9, end: t0 + 1e9, span: 1}},
		{barJSON("bars.1m", "BRK.B", t0, 1, `,"delayed":true`), barFields{sym: []byte("BRK.B"), seq: 1, interval: 60e9, end: t0 + 60e9, span: 1}},
		{barJSON("bars.1s", "MSFT", t0, 9, `,"span":3`), barFields{sym: []byte("MSFT"), seq: 9, interval: 1e9, end: t0 + 1e9, span: 3}},
		{barJSON("bars.1s", "MSFT", t0, 9, `,"prev":4,"span":3`), barFields{sym: []byte("MSFT"), seq: 9, interval: 1e9, end: t0 + 1e9, span: 3, prev: 4}},
		{barJSON("bars.1s", "MSFT", t0, 10, `,"partial":true`), barFields{sym: []byte("MSFT"), seq: 10, interval: 1e9, end: t0 + 1e9, span: 1, partial: true}},
		// Keys in another order: found by search.
		{[]byte(`{"type":"bar","stream":"bars.1s","n":4,"seq":7,"t":5,"sym":"X"}`), barFields{sym: []byte("X"), seq: 7, interval: 1e9, end: 5 + 1e9, span: 1}},
	} {
		got, ok := parseBar(c.line)
		if !ok || string(got.sym) != string(c.want.sym) || got.seq != c.want.seq || got.interval != c.want.interval ||
			got.end != c.want.end || got.span != c.want.span || got.prev != c.want.prev || got.partial != c.want.partial {
			t.Errorf("parseBar(%s) = %+v %v, want %+v", c.line, got, ok, c.want)
		}
	}
}

func TestParseBarRejects(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		``,
		string(tickJSON("AAPL", 1, 1)),
		`{"type":"subscribed","id":1,"stream":"bars.1s","symbols":["AAPL"]}`,
		`{"type":"bar","stream":"ticks","sym":"AAPL","t":1,"seq":1}`,
		`{"type":"bar","stream":"bars.0s","sym":"AAPL","t":1,"seq":1}`,
		`{"type":"bar","stream":"bars.1d","sym":"AAPL","t":1,"seq":1}`,
		`{"type":"bar","stream":"bars.1sx","sym":"AAPL","t":1,"seq":1}`,
		`{"type":"bar","stream":"bars.1s","sym":"","t":1,"seq":1}`,
		`{"type":"bar","stream":"bars.1s","sym":"AAPL","t":-1,"seq":1}`,
		`{"type":"bar","stream":"bars.1s","sym":"AAPL","t":9223372036854775807,"seq":1}`, // t + 1s overflows
		`{"type":"bar","stream":"bars.1s","sym":"AAPL","t":1}`,
		`{"type":"bar","stream":"bars.1s","sym":"AAPL","seq":1}`,
		`{"type":"bar","stream":"bars.1s`,
	} {
		if got, ok := parseBar([]byte(line)); ok {
			t.Errorf("parseBar(%s) = %+v, want not a bar", line, got)
		}
	}
}

// TestOnFrameBars checks the contract's client rule on final bars (drop
// if seq <= last; a gap iff prev, the seq of the bar before it, is past
// the last one seen; a conflated bar follows on), latency from the bar's end,
// and that partials, ticks and other streams' bars are not deliveries.
func TestOnFrameBars(t *testing.T) {
	t.Parallel()
	sh := newShared(1)
	c := newClient(0, "", []string{"AAPL", "MSFT"}, false)
	c.bars = 1e9
	const t0 = 1732470000000000000
	c.onFrame(frameOf([]byte(`{"type":"subscribed","id":1,"stream":"bars.1s","symbols":["AAPL","MSFT"]}`),
		barJSON("bars.1s", "AAPL", t0, 5, ""), barJSON("bars.1s", "MSFT", t0, 1, "")), sh) // snapshots: bases
	sh.phase.Store(phaseMeasure)
	c.onFrame(frameOf(
		barJSON("bars.1s", "AAPL", t0+1e9, 6, `,"prev":5`),          // follows on
		barJSON("bars.1s", "AAPL", t0+2e9, 7, `,"partial":true`),    // partial: counted apart, seq untouched
		barJSON("bars.1s", "AAPL", t0+4e9, 9, `,"span":3`),          // conflated: follows on
		barJSON("bars.1s", "MSFT", t0+4e9, 4, `,"prev":3,"span":2`), // conflated, bucket 2 quiet: follows on
		barJSON("bars.1s", "MSFT", t0+6e9, 6, `,"prev":5`),          // bar 5 missed: a gap
		barJSON("bars.1s", "AAPL", t0+4e9, 9, ""),                   // repeat
	), sh)
	c.onFrame(frameOf(
		barJSON("bars.1m", "AAPL", t0, 3, ""), // another stream
		tickJSON("AAPL", 10, t0),              // a tick
		barJSON("bars.1s", "NVDA", t0, 1, ""), // another symbol
		[]byte(`{"type":"error","id":2,"code":"unknown_stream","msg":"x"}`),
	), sh)
	want := counters{deliveries: 5, frames: 2, gaps: 1, repeats: 1, unexpected: 3, conflated: 2, partials: 1}
	got := c.n
	got.bytes = 0
	if got != want {
		t.Errorf("counters = %+v, want %+v", got, want)
	}
	if c.protoErrs != 1 {
		t.Errorf("error replies counted %d, want 1", c.protoErrs)
	}
	h := sh.shards[0].h
	if n := h.TotalCount(); n != 5 {
		t.Errorf("latencies recorded = %d, want 5", n)
	}
}

// TestBarLatencyFromEnd checks a bar's latency is measured from its end,
// t plus the stream's interval: a 1m bar that ended 10s ago is 10s late,
// not 70s (from t) nor 69s (with a 1s interval).
func TestBarLatencyFromEnd(t *testing.T) {
	t.Parallel()
	sh := newShared(1)
	c := newClient(0, "", []string{"AAPL"}, false)
	c.bars = 60e9
	start := time.Now().UnixNano() - 70e9 // so the bar ended 10s ago
	c.onFrame(barJSON("bars.1m", "AAPL", start-60e9, 1, ""), sh)
	sh.phase.Store(phaseMeasure)
	c.onFrame(barJSON("bars.1m", "AAPL", start, 2, ""), sh)
	// The histogram tops out at 60s, so a latency from t would read 60s.
	if got := sh.shards[0].h.Max(); got < 10e6 || got >= 59e6 {
		t.Errorf("latency %d µs, want 10s plus the moment the test took", got)
	}
}

func TestOnFrameBarsAllocs(t *testing.T) {
	c := newClient(0, "", []string{"AAPL", "MSFT"}, false)
	c.bars = 1e9
	sh := newShared(1)
	sh.phase.Store(phaseMeasure)
	frame := frameOf(barJSON("bars.1s", "AAPL", 1e18, 2, ""), barJSON("bars.1s", "MSFT", 1e18, 2, `,"span":2`))
	allocs := testing.AllocsPerRun(100, func() {
		c.last[0], c.last[1] = 1, 0
		c.onFrame(frame, sh)
	})
	if allocs != 0 {
		t.Errorf("onFrame allocates %.1f times per frame of bars", allocs)
	}
}

func TestBarsWorkload(t *testing.T) {
	t.Parallel()
	o, err := parseOptions([]string{"-workload", "bars"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.clients != 10000 || o.symbols != 10 || o.pick != pickFixed || o.stream != streamBars1s {
		t.Errorf("bars: %+v", o)
	}
	var op map[string]any
	if err := json.Unmarshal(subscribeOp([]string{"AAPL", "MSFT"}, o.stream, 0), &op); err != nil {
		t.Fatal(err)
	}
	if op["op"] != "subscribe" || op["stream"] != "bars.1s" || fmt.Sprint(op["symbols"]) != "[AAPL MSFT]" || op["max_rate"] != nil {
		t.Errorf("subscribe op %v", op)
	}
	if o, _ := parseOptions([]string{"-workload", "fanout"}, io.Discard); o.stream != streamTicks {
		t.Errorf("fanout subscribes to %q, want ticks", o.stream)
	}
	for _, args := range [][]string{
		{"-workload", "bars", "-target", "floor"},
		{"-workload", "bars", "-spawn", "-find-max"},
		{"-stream", "bars.5m"},
	} {
		if _, err := parseOptions(args, io.Discard); err == nil || !strings.Contains(err.Error(), "-stream") {
			t.Errorf("%q: error %v, want one naming -stream", args, err)
		}
	}
}

func FuzzParseBar(f *testing.F) {
	f.Add(barJSON("bars.1s", "AAPL", 1, 1, `,"span":2,"partial":true`))
	f.Add(frameOf(barJSON("bars.1m", "AAPL", 1, 1, ""), tickJSON("AAPL", 2, 3)))
	f.Add([]byte(`{"type":"bar","stream":"bars.99999999999999999999s","sym":"A","t":1,"seq":1}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		sh := newShared(1)
		sh.phase.Store(phaseMeasure)
		c := newClient(0, "", []string{"AAPL"}, false)
		c.bars = 1e9
		c.onFrame(frame, sh)
		for line, rest := nextLine(frame); ; line, rest = nextLine(rest) {
			if b, ok := parseBar(line); ok && (len(b.sym) == 0 || b.interval <= 0 || b.end < b.interval || b.span == 0) {
				t.Fatalf("parseBar(%q) accepted %+v", line, b)
			}
			if len(rest) == 0 {
				break
			}
		}
	})
}

// BenchmarkOnFrameTicks is a frame of 10 ticks, the harness's hot path:
// bar parsing is tried only after parseTick refuses a line, so this must
// not move with it.
func BenchmarkOnFrameTicks(b *testing.B) {
	syms := []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"}
	var msgs [][]byte
	for _, s := range syms {
		msgs = append(msgs, tickJSON(s, 2, 1))
	}
	benchFrame(b, syms, frameOf(msgs...), 0)
}

// BenchmarkOnFrameBars is the same with 10 bars.
func BenchmarkOnFrameBars(b *testing.B) {
	syms := []string{"A", "B", "C", "D", "E", "F", "G", "H", "I", "J"}
	var msgs [][]byte
	for _, s := range syms {
		msgs = append(msgs, barJSON("bars.1s", s, 1e18, 2, ""))
	}
	benchFrame(b, syms, frameOf(msgs...), 1e9)
}

func benchFrame(b *testing.B, syms []string, frame []byte, bars int64) {
	c := newClient(0, "", syms, false)
	c.bars = bars
	sh := newShared(1)
	sh.phase.Store(phaseMeasure)
	b.ReportAllocs()
	for b.Loop() {
		clear(c.last)
		for i := range c.last {
			c.last[i] = 1
		}
		c.onFrame(frame, sh)
	}
}
