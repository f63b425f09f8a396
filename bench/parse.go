package main

import "bytes"

// The tick wire form, {"type":"tick","sym":"AAPL","seq":42,...,"ts":1732470000123456789}:
// the gateway (feed.Tick.AppendJSON) and the baseline (encoding/json of a
// struct in the same field order) both put type and sym first and ts last;
// a conflated tick adds ,"n":k after ts (docs/protocol.md). Centrifugo wraps
// the same object as a publication's data (see unwrapPush).
var (
	tickPrefix   = []byte(`{"type":"tick","sym":"`)
	seqNext      = []byte(`,"seq":`)
	seqKey       = []byte(`"seq":`)
	tsKey        = []byte(`"ts":`)
	nKey         = []byte(`,"n":`)
	noticePrefix = []byte(`{"type":"notice"`)
	errorPrefix  = []byte(`{"type":"error"`)
)

// The bar wire form (docs/protocol.md), one line like a tick:
// {"type":"bar","stream":"bars.1s","sym":"AAPL","t":1732470000000000000,"o":..,"h":..,"l":..,"c":..,"v":..,"n":57,"seq":12}
// with optional trailing ,"prev":p (final bars), ,"partial":true,
// ,"delayed":true and ,"span":k. A bar's "n" is its trade count, not a
// conflation count: "span" is that. Its seq is its bucket number, so it
// jumps over quiet buckets; prev, the seq of the bar before it, tells a
// quiet bucket from a missed bar.
var (
	barPrefix  = []byte(`{"type":"bar","stream":"`)
	barsPrefix = []byte(`bars.`)
	symNext    = []byte(`,"sym":"`)
	symKey     = []byte(`"sym":"`)
	tNext      = []byte(`,"t":`)
	tKey       = []byte(`"t":`)
	spanKey    = []byte(`"span":`)
	prevKey    = []byte(`"prev":`)
	partialKey = []byte(`"partial":true`)
)

// barFields is what the harness reads from a bar. sym aliases the frame
// buffer: it is valid until the client's next read.
type barFields struct {
	sym      []byte
	seq      uint64
	interval int64  // the stream's bar length in ns (bars.1s: 1e9)
	end      int64  // the bar's end, unix ns: its start t plus interval
	span     uint64 // final bars this one stands for: 1 unless "span":k
	prev     uint64 // the seq of the bar before it, as the gateway saw it; 0 if none
	partial  bool   // a progress update of the forming bar; its seq is not final
}

// tickFields is what the harness reads from a tick. sym aliases the frame
// buffer: it is valid until the client's next read.
type tickFields struct {
	sym []byte
	seq uint64
	ts  int64
	n   uint64 // feed ticks this one stands for: 1 unless conflated ("n":k)
	// base says the message replaces the client's state whatever its seq:
	// a book snapshot, which may follow a gap notice or come in place of
	// a merged update (docs/protocol.md).
	base bool

	span uint64 // set for a bar only: its "span", which says whether it is conflated
}

// nextLine splits the first '\n'-separated message off frame.
func nextLine(frame []byte) (line, rest []byte) {
	if i := bytes.IndexByte(frame, '\n'); i >= 0 {
		return frame[:i], frame[i+1:]
	}
	return frame, nil
}

// The book wire form (docs/protocol.md), one line like a tick, its seq and
// ts where a tick has them and its count as "n":
// {"type":"book","sym":"AAPL","seq":12,"checksum":..,"bids":[..],"asks":[..],"ts":..}
// or "book_update" for an update.
var (
	bookPrefix     = []byte(`{"type":"book`)
	bookSnapshot   = []byte(`","sym":"`)
	bookUpdateNext = []byte(`_update","sym":"`)
)

// parseTick reads sym, seq and ts from one message without encoding/json.
// It expects "type":"tick" then "sym" first (anything else is not a tick:
// ok false) and finds seq and ts at their usual places, falling back to a
// search by key if the layout differs.
func parseTick(line []byte) (t tickFields, ok bool) {
	if !bytes.HasPrefix(line, tickPrefix) {
		return t, false
	}
	return parseSymSeqTS(line[len(tickPrefix):])
}

// parseBook is parseTick for a book message, a snapshot or an update. It
// is tried only on lines parseTick refused; the levels are not read (the
// gateway's tests check them and their checksums).
func parseBook(line []byte) (t tickFields, ok bool) {
	rest, ok := bytes.CutPrefix(line, bookPrefix)
	if !ok {
		return t, false
	}
	if r, ok := bytes.CutPrefix(rest, bookSnapshot); ok {
		t, ok = parseSymSeqTS(r)
		t.base = true
		return t, ok
	}
	if r, ok := bytes.CutPrefix(rest, bookUpdateNext); ok {
		return parseSymSeqTS(r)
	}
	return t, false
}

// parseSymSeqTS reads a tick's or book's fields from rest, the message
// after the opening quote of its sym.
func parseSymSeqTS(rest []byte) (t tickFields, ok bool) {
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return t, false
	}
	t.sym, rest = rest[:end], rest[end+1:]
	var n int
	if t.seq, n = parseUint(afterKey(rest, seqNext, seqKey)); n == 0 {
		return t, false
	}
	ts, n := parseUint(lastValue(rest, tsKey))
	if n == 0 || ts > 1<<63-1 {
		return t, false
	}
	t.ts = int64(ts)
	t.n = 1
	if i := bytes.Index(rest, nKey); i >= 0 {
		if k, m := parseUint(rest[i+len(nKey):]); m > 0 && k > 1 {
			t.n = k
		}
	}
	return t, true
}

// afterKey returns b after its prefix fast, or after the first key.
func afterKey(b, fast, key []byte) []byte {
	if bytes.HasPrefix(b, fast) {
		return b[len(fast):]
	}
	if i := bytes.Index(b, key); i >= 0 {
		return b[i+len(key):]
	}
	return nil
}

// lastValue returns the bytes after key, looking first at the end of the
// object, where the encoders put a tick's "ts" (unless "n" follows it) and
// a bar's "seq" (unless optional fields follow it).
func lastValue(b, key []byte) []byte {
	v, _ := lastValueAt(b, key)
	return v
}

// lastValueAt is lastValue also reporting whether key was found last.
func lastValueAt(b, key []byte) (v []byte, last bool) {
	if j := len(b) - 1; j > 0 && b[j] == '}' {
		k := j
		for k > 0 && b[k-1] >= '0' && b[k-1] <= '9' {
			k--
		}
		if k >= len(key) && bytes.Equal(b[k-len(key):k], key) {
			return b[k:j], true
		}
	}
	if i := bytes.LastIndex(b, key); i >= 0 {
		return b[i+len(key):], false
	}
	return nil, false
}

// parseUint parses the leading decimal digits of b. n is the digits read,
// 0 if there are none or the value overflows uint64.
func parseUint(b []byte) (v uint64, n int) {
	for n < len(b) && b[n] >= '0' && b[n] <= '9' {
		d := uint64(b[n] - '0')
		if v > (1<<64-1-d)/10 {
			return 0, 0
		}
		v = v*10 + d
		n++
	}
	return v, n
}

// parseBar reads a bar's stream, sym, t, seq, prev, span and partial flag
// without encoding/json. It is tried only on lines parseTick refused, so
// ticks pay nothing for it. Anything that is not a bar of a known stream
// form (bars.<N>s, m or h) is ok false.
func parseBar(line []byte) (b barFields, ok bool) {
	if !bytes.HasPrefix(line, barPrefix) {
		return b, false
	}
	rest := line[len(barPrefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return b, false
	}
	if b.interval = streamInterval(rest[:end]); b.interval == 0 {
		return b, false
	}
	body := rest[end+1:] // every key after the stream, in any order
	rest = afterKey(body, symNext, symKey)
	if end = bytes.IndexByte(rest, '"'); end <= 0 {
		return b, false
	}
	b.sym, rest = rest[:end], rest[end+1:]
	usual := bytes.HasPrefix(rest, tNext)
	if !usual {
		rest = body // search every key in all of it
	}
	t, n := parseUint(afterKey(rest, tNext, tKey))
	if n == 0 || t > uint64(1<<63-1-b.interval) {
		return b, false
	}
	b.end = int64(t) + b.interval
	seq, last := lastValueAt(rest, seqKey)
	if b.seq, n = parseUint(seq); n == 0 {
		return b, false
	}
	b.span = 1
	if last {
		return b, true // no optional field
	}
	if usual {
		rest = seq[n:] // the optional fields follow seq
	}
	if i := bytes.Index(rest, spanKey); i >= 0 {
		if k, m := parseUint(rest[i+len(spanKey):]); m > 0 && k > 1 {
			b.span = k
		}
	}
	if i := bytes.Index(rest, prevKey); i >= 0 {
		b.prev, _ = parseUint(rest[i+len(prevKey):])
	}
	b.partial = bytes.Contains(rest, partialKey)
	return b, true
}

// streamInterval is the bar length in ns of a stream named bars.<N><unit>
// (unit s, m or h), or 0 for any other name.
func streamInterval(stream []byte) int64 {
	if !bytes.HasPrefix(stream, barsPrefix) {
		return 0
	}
	rest := stream[len(barsPrefix):]
	v, n := parseUint(rest)
	if n == 0 || v == 0 || v > 1e6 || len(rest) != n+1 {
		return 0
	}
	switch rest[n] {
	case 's':
		return int64(v) * 1e9
	case 'm':
		return int64(v) * 60e9
	case 'h':
		return int64(v) * 3600e9
	}
	return 0
}
