package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

// sampleReplay is the recording feed/replay tests with.
const sampleReplay = "../../feed/replay/testdata/sample.ndjson"

// recording is a replay file's ticks by symbol and seq, its symbols in
// order of first appearance and each symbol's last seq.
type recording struct {
	ticks   map[string]map[uint64]feed.Tick
	symbols []string
	last    map[string]uint64
}

// readRecording reads the NDJSON file at path.
func readRecording(t *testing.T, path string) recording {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := recording{ticks: map[string]map[uint64]feed.Tick{}, last: map[string]uint64{}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		tk, err := feed.DecodeJSON(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if r.ticks[tk.Symbol] == nil {
			r.ticks[tk.Symbol] = map[uint64]feed.Tick{}
			r.symbols = append(r.symbols, tk.Symbol)
		}
		r.ticks[tk.Symbol][tk.Seq] = tk
		r.last[tk.Symbol] = max(r.last[tk.Symbol], tk.Seq)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return r
}

// check fails unless m is the recorded tick of its symbol and seq; only
// ts differs, as replay stamps the time of emission.
func (r recording) check(t *testing.T, m wstest.Msg) {
	t.Helper()
	got, err := feed.DecodeJSON(m.Raw)
	if err != nil {
		t.Fatalf("tick %s: %v", m.Raw, err)
	}
	want, ok := r.ticks[got.Symbol][got.Seq]
	got.TS = want.TS
	if !ok || got != want {
		t.Fatalf("tick %s, want the recorded %+v", m.Raw, want)
	}
}

// TestGatewayReplay serves a recording to the end: a client sees every
// tick from its first on, then a feed_down saying the feed ended, and
// the gateway keeps serving the last ticks but reports not ready.
func TestGatewayReplay(t *testing.T) {
	t.Parallel()
	rec := readRecording(t, sampleReplay)
	// The file spans 20s of recorded time: at speed 20 it plays in about 1s.
	tg := startGateway(t, map[string]string{
		"feed.source": "replay", "feed.replay.path": sampleReplay, "feed.replay.speed": "20",
	})
	tg.waitReady(t)
	c := connect(t, tg, "?symbols=*")
	if m := c.Next(); m.Type != "subscribed" || len(m.Symbols) != len(rec.symbols) {
		t.Fatalf("first message %s, want subscribed to the %d recorded symbols", m.Raw, len(rec.symbols))
	}

	symbols := getSymbols(t, tg)
	if !sameSet(symbols, rec.symbols) {
		t.Errorf("/symbols = %q, want the recording's %q", symbols, rec.symbols)
	}

	// The client sees each symbol's ticks, from its first, through the last.
	rec.readThrough(t, c, func(m wstest.Msg) { rec.check(t, m) })
	if m := c.Next(); m.Type != "notice" || m.Code != "feed_down" || !strings.Contains(string(m.Raw), "ended") {
		t.Fatalf("after the last tick: %s, want a feed_down notice saying the feed ended", m.Raw)
	}

	poll.Until(t, 5*time.Second, func() error {
		if code, _ := get(tg.url + "/readyz"); code != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz = %d after the replay ended, want 503", code)
		}
		return nil
	})
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_feed_replay_loops_total"); v != 1 {
		t.Errorf("tickgate_feed_replay_loops_total = %g, want 1", v)
	}
	// Still serving: a new client hears the feed ended, then gets the last
	// tick as its snapshot.
	c2 := connect(t, tg, "?symbols=AAPL")
	if m := c2.Next(); m.Type != "notice" || m.Code != "feed_down" {
		t.Fatalf("a client of an ended replay got %s first, want feed_down", m.Raw)
	}
	subscribed(c2, "AAPL")
	m := c2.Next()
	if m.Type != "tick" || m.Sym != "AAPL" || m.Seq != rec.last["AAPL"] {
		t.Fatalf("got %s, want the snapshot of AAPL at seq %d", m.Raw, rec.last["AAPL"])
	}
	rec.check(t, m)
	select {
	case <-tg.done:
		t.Fatalf("serve returned %v once the replay ended", tg.err)
	default:
	}
}

// readThrough reads c's ticks until every symbol has reached its last
// recorded seq, checking that only ticks come, that each symbol's seqs
// run on without a gap (seqCheck), and each tick with check.
func (r recording) readThrough(t *testing.T, c *wstest.Client, check func(wstest.Msg)) {
	t.Helper()
	seqs := seqCheck{}
	for n := 0; !r.reached(seqs); n++ {
		m := c.Next()
		if m.Type != "tick" {
			t.Fatalf("got %s after %d ticks, want ticks only", m.Raw, n)
		}
		seqs.tick(t, m)
		check(m)
	}
}

// reached reports whether seqs holds the last recorded seq of every symbol.
func (r recording) reached(seqs seqCheck) bool {
	for sym, seq := range r.last {
		if seqs[sym] != seq {
			return false
		}
	}
	return true
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestGatewayReplayRecordedTimestamps wires feed.replay.timestamps through:
// with "recorded" every tick reaches clients with its ts as in the file.
func TestGatewayReplayRecordedTimestamps(t *testing.T) {
	t.Parallel()
	rec := readRecording(t, sampleReplay)
	tg := startGateway(t, map[string]string{
		"feed.source": "replay", "feed.replay.path": sampleReplay, "feed.replay.speed": "20",
		"feed.replay.timestamps": "recorded",
	})
	c := connect(t, tg, "?symbols=*")
	if m := c.Next(); m.Type != "subscribed" {
		t.Fatalf("first message %s, want subscribed", m.Raw)
	}
	rec.readThrough(t, c, func(m wstest.Msg) {
		if want := rec.ticks[m.Sym][m.Seq]; m.TS != want.TS {
			t.Fatalf("tick %s: ts %d, want the recorded %d", m.Raw, m.TS, want.TS)
		}
	})
}
