package subscribe

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/ssetest"
)

// TestEventIDForm writes the positions of symbols of two runs as an id,
// an epoch named again each time it changes along the subscription order,
// and reads it back.
func TestEventIDForm(t *testing.T) {
	since := map[string]fanout.Position{
		"AAPL":  {Seq: 5, Epoch: "k3x9f0a1b2c4"},
		"MSFT":  {Seq: 7, Epoch: "p0q7m2c9d1e5"},
		"BRK.B": {Seq: 0, Epoch: "k3x9f0a1b2c4"},
	}
	p := newPositions([]string{"AAPL", "MSFT", "NVDA", "BRK.B"}, since) // NVDA: no position yet
	id := string(p.appendID(nil))
	if want := "@k3x9f0a1b2c4,AAPL:5,@p0q7m2c9d1e5,MSFT:7,@k3x9f0a1b2c4,BRK.B:0"; id != want {
		t.Fatalf("id %q, want %q", id, want)
	}
	back, err := parseEventID(id)
	if err != nil || !maps.Equal(back, since) {
		t.Fatalf("read back %v (%v), want %v", back, err, since)
	}
	if got, err := parseEventID(""); got != nil || err != nil {
		t.Fatalf("empty id: %v %v, want no positions", got, err)
	}
}

// TestEventIDLimit follows more symbols than an id holds: the id stops at
// maxEventIDBytes, with the positions that fit in subscription order, and
// reads back as those.
func TestEventIDLimit(t *testing.T) {
	syms := make([]string, 600)
	since := map[string]fanout.Position{}
	for i := range syms {
		syms[i] = fmt.Sprintf("SYM%03d", i)
		since[syms[i]] = fanout.Position{Seq: 1_000_000_000 + uint64(i), Epoch: "k3x9f0a1b2c4"}
	}
	p := newPositions(syms, since)
	id := string(p.appendID([]byte("id: ")))[len("id: "):]
	if len(id) > maxEventIDBytes || len(id) < maxEventIDBytes-len(",SYM000:1000000000") {
		t.Fatalf("id of %d bytes, want the most positions that fit in %d", len(id), maxEventIDBytes)
	}
	back, err := parseEventID(id)
	if err != nil {
		t.Fatal(err)
	}
	for i, sym := range syms {
		if _, in := back[sym]; in != (i < len(back)) {
			t.Fatalf("%s in the id: %v; want the first %d symbols and no other", sym, in, len(back))
		}
	}
	t.Logf("%d of %d positions in %d bytes", len(back), len(syms), len(id))
}

// TestParseEventIDRefuses reads ids a client made up: each is refused,
// naming the part at fault.
func TestParseEventIDRefuses(t *testing.T) {
	for _, tc := range []struct{ id, err string }{
		{"AAPL:1", `position "AAPL:1" before any @<epoch>`},
		{"@,AAPL:1", `bad epoch ""`},
		{"@k3x9!,AAPL:1", `bad epoch "k3x9!"`},
		{"@e1,AAPL", `bad position "AAPL"`},
		{"@e1,AAPL:-1", `bad position "AAPL:-1"`},
		{"@e1,aapl:1", `bad position "aapl:1"`},
		{"@e1,AAPL:18446744073709551616", `bad position`},
		{"@e1,AAPL:1,,MSFT:2", `bad position ""`},
		{"@e1,AAPL:1,@e2,AAPL:2", "AAPL named twice"},
	} {
		if got, err := parseEventID(tc.id); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, %v; want an error with %q", tc.id, got, err, tc.err)
		}
	}
	if _, err := parseEventID("@e1," + strings.Repeat("A", maxEventIDBytes)); !errors.Is(err, errEventIDTooLong) {
		t.Errorf("oversized id: %v", err)
	}
}

// TestPositionsFollow feeds positions the messages a stream may carry, in
// their wire form, and checks the id after each.
func TestPositionsFollow(t *testing.T) {
	p := newPositions([]string{"AAPL", "MSFT"}, nil)
	tick := func(sym string, seq uint64, n int64) fanout.Message {
		tk := feed.Tick{Symbol: sym, Seq: seq, Price: 1, Size: 1, Bid: 1, Ask: 1, TS: 1}
		return fanout.Message{Data: tk.AppendJSON(nil), N: n}
	}
	msg := func(s string) fanout.Message { return fanout.Message{Data: []byte(s)} }
	for i, step := range []struct {
		m  fanout.Message
		id string
	}{
		{msg(`{"type":"welcome","history_budget":1024,"history":{"ticks":1024,"bars.1s":500,"bars.1m":500}}`), ""},
		{msg(`{"type":"subscribed","stream":"ticks","symbols":["AAPL","MSFT"],"epochs":{"AAPL":"e1"}}`), ""},
		{tick("AAPL", 4, 0), "@e1,AAPL:4"},
		{tick("MSFT", 3, 0), "@e1,AAPL:4"}, // no epoch told yet: no position
		{msg(`{"type":"notice","code":"epoch","sym":"MSFT","epoch":"e1"}`), "@e1,AAPL:4,MSFT:0"},
		{tick("MSFT", 1, 0), "@e1,AAPL:4,MSFT:1"},
		{tick("AAPL", 9, 5), "@e1,AAPL:9,MSFT:1"}, // conflated: n 5
		{msg(`{"type":"notice","code":"gap","sym":"AAPL","from":10,"to":12}`), "@e1,AAPL:9,MSFT:1"},
		{msg(`{"type":"notice","code":"conflated","msg":"you fell behind"}`), "@e1,AAPL:9,MSFT:1"},
		{msg(`{"type":"notice","code":"reset","sym":"AAPL","epoch":"e2"}`), "@e2,AAPL:0,@e1,MSFT:1"},
		{tick("AAPL", 1, 0), "@e2,AAPL:1,@e1,MSFT:1"},
		{tick("NVDA", 1, 0), "@e2,AAPL:1,@e1,MSFT:1"}, // not this stream's
		{msg(`{"type":"bar","stream":"bars.1s","sym":"MSFT","t":7000000000,"o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"seq":7,"partial":true}`), "@e2,AAPL:1,@e1,MSFT:1"},
		{msg(`{"type":"bar","stream":"bars.1s","sym":"MSFT","t":6000000000,"o":1,"h":1,"l":1,"c":1,"v":1,"n":1,"seq":6,"prev":5,"delayed":true}`), "@e2,AAPL:1,@e1,MSFT:6"},
		{msg(`{"type":"notice","code":"reset","stream":"bars.1s","sym":"MSFT","epoch":"e3"}`), "@e2,AAPL:1,@e3,MSFT:0"},
	} {
		p.follow([]fanout.Message{step.m})
		if id := string(p.appendID(nil)); id != step.id {
			t.Fatalf("step %d, after %s: id %q, want %q", i, step.m.Data, id, step.id)
		}
	}
}

// TestSSEBars streams bars.1s with history and progress updates: each
// event's id is the seq of the last final bar it held or followed, never a
// partial one's.
func TestSSEBars(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{BarHistory: 10})
	base := (time.Now().Unix() - 60) * int64(time.Second)
	tick := func(k int) { e.publishAt("AAPL", base+int64(k-1)*int64(time.Second)+5e8, 100+float64(k)) }
	seq := func(k int) uint64 { return uint64(base/int64(time.Second)) + uint64(k-1) }
	for k := 1; k <= 4; k++ {
		tick(k)
	}
	c := e.dialSSE("?symbols=AAPL&stream=bars.1s&history=2&partial=true", ssetest.Options{})
	var last uint64 // the last final bar's seq
	finals, partials := 0, 0
	for last < seq(6) { // history 2..3, then 4..6 live
		ev, err := c.NextEvent()
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := ssetest.Messages(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			switch {
			case m.Type == "subscribed": // then the live bars
				for k := 5; k <= 7; k++ {
					tick(k)
				}
			case m.Type != "bar":
			case m.Partial:
				partials++
			default:
				finals++
				last = m.Seq
			}
		}
		want := ""
		if last > 0 {
			want = fmt.Sprintf("@0,AAPL:%d", last)
		}
		if ev.ID != want {
			t.Fatalf("event %q: id %q, want %q", ev.Data, ev.ID, want)
		}
	}
	if finals != 5 || partials == 0 {
		t.Fatalf("%d final bars, %d progress updates; want 5 and some", finals, partials)
	}
}
