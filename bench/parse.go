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
)

// tickFields is what the harness reads from a tick. sym aliases the frame
// buffer: it is valid until the client's next read.
type tickFields struct {
	sym []byte
	seq uint64
	ts  int64
	n   uint64 // feed ticks this one stands for: 1 unless conflated ("n":k)
}

// nextLine splits the first '\n'-separated message off frame.
func nextLine(frame []byte) (line, rest []byte) {
	if i := bytes.IndexByte(frame, '\n'); i >= 0 {
		return frame[:i], frame[i+1:]
	}
	return frame, nil
}

// parseTick reads sym, seq and ts from one message without encoding/json.
// It expects "type":"tick" then "sym" first (anything else is not a tick:
// ok false) and finds seq and ts at their usual places, falling back to a
// search by key if the layout differs.
func parseTick(line []byte) (t tickFields, ok bool) {
	if !bytes.HasPrefix(line, tickPrefix) {
		return t, false
	}
	rest := line[len(tickPrefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return t, false
	}
	t.sym, rest = rest[:end], rest[end+1:]
	var n int
	if t.seq, n = parseUint(afterKey(rest, seqNext, seqKey)); n == 0 {
		return t, false
	}
	ts, n := parseUint(tsDigits(rest))
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

// tsDigits returns the bytes after "ts":, looking first at the end of the
// object where both encoders put it (unless "n" follows it).
func tsDigits(b []byte) []byte {
	if j := len(b) - 1; j > 0 && b[j] == '}' {
		k := j
		for k > 0 && b[k-1] >= '0' && b[k-1] <= '9' {
			k--
		}
		if k >= len(tsKey) && bytes.Equal(b[k-len(tsKey):k], tsKey) {
			return b[k:j]
		}
	}
	if i := bytes.LastIndex(b, tsKey); i >= 0 {
		return b[i+len(tsKey):]
	}
	return nil
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
