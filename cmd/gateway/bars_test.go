package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/ticktest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// barsFixture is a recording of AAPL and MSFT over five seconds from
// barsT0, a whole second: ticks in buckets 0-3 make the bars of wantBars,
// and one tick each in bucket 4 makes bucket 3's bars final.
const barsFixture = "testdata/bars.ndjson"

// barsT0 is the start of the fixture's first 1s bucket, in Unix ns.
const barsT0 = int64(1732470000000000000)

// bucket0 is the seq of the fixture's first 1s bar: barsT0 in seconds.
const bucket0 = uint64(barsT0 / 1e9)

// bar is a bar message decoded in full; the fleet and replay tests
// compare them field by field.
type bar = ticktest.Bar

// wantBars are the fixture's final 1s bars, computed by hand from
// testdata/bars.ndjson. A bar's seq is its bucket number (bucket0 + k).
// AAPL's bucket 1 has one tick; MSFT has no tick in bucket 1, so no bar,
// and its seq skips it: a quiet bucket, not a gap.
var wantBars = barsOf(map[string][]bar{
	"AAPL": {
		{T: barsT0, O: 100, H: 100.5, L: 99.75, C: 99.75, V: 350, N: 3, Seq: bucket0},
		{T: barsT0 + 1e9, O: 101, H: 101, L: 101, C: 101, V: 300, N: 1, Seq: bucket0 + 1},
		{T: barsT0 + 2e9, O: 100.25, H: 100.75, L: 100.25, C: 100.75, V: 200, N: 2, Seq: bucket0 + 2},
		{T: barsT0 + 3e9, O: 102, H: 102, L: 102, C: 102, V: 10, N: 1, Seq: bucket0 + 3},
	},
	"MSFT": {
		{T: barsT0, O: 50, H: 50.25, L: 50, C: 50.25, V: 30, N: 2, Seq: bucket0},
		{T: barsT0 + 2e9, O: 49.5, H: 49.75, L: 49.25, C: 49.25, V: 50, N: 3, Seq: bucket0 + 2},
		{T: barsT0 + 3e9, O: 51, H: 51, L: 51, C: 51, V: 40, N: 1, Seq: bucket0 + 3},
	},
})

// barsOf fills in the fields every bar of m shares: type, stream, symbol.
func barsOf(m map[string][]bar) map[string][]bar {
	for sym, bars := range m {
		for i := range bars {
			bars[i].Type, bars[i].Stream, bars[i].Sym = "bar", "bars.1s", sym
		}
	}
	return m
}

// barLog is the final bars a client received, by symbol in order, and
// each one's raw bytes by symbol and seq.
type barLog struct {
	bars map[string][]bar
	raw  map[string]map[uint64]string
}

// subscribeBars subscribes c to bars.1s of AAPL and MSFT with extra
// fields (`,"history":10`) and waits for the reply.
func subscribeBars(c *wstest.Client, extra string) {
	c.TB.Helper()
	c.Send(`{"op":"subscribe","id":1,"stream":"bars.1s","symbols":["AAPL","MSFT"]` + extra + `}`)
	for {
		m := c.Next()
		if m.Type == "notice" {
			continue
		}
		var reply struct {
			Stream string `json:"stream"`
		}
		_ = json.Unmarshal(m.Raw, &reply)
		if m.Type != "subscribed" || reply.Stream != "bars.1s" || strings.Join(m.Symbols, ",") != "AAPL,MSFT" {
			c.TB.Fatalf("reply %s, want subscribed to bars.1s of AAPL,MSFT", m.Raw)
		}
		return
	}
}

// collectBars reads c until it has every bar of wantBars, failing on any
// message but a notice or a final bars.1s bar that is the next of its
// symbol in wantBars (the client subscribed before the first bar, or
// asked for enough history).
func collectBars(c *wstest.Client) barLog {
	c.TB.Helper()
	log := barLog{bars: map[string][]bar{}, raw: map[string]map[uint64]string{}}
	for !log.complete() {
		m := c.Next()
		if m.Type == "notice" {
			continue
		}
		var b bar
		if err := json.Unmarshal(m.Raw, &b); err != nil || b.Type != "bar" || b.Stream != "bars.1s" || b.Partial {
			c.TB.Fatalf("got %s (%v), want final bars.1s bars only", m.Raw, err)
		}
		got := log.bars[b.Sym]
		if want, ok := wantBars[b.Sym]; !ok || len(got) >= len(want) || b.Seq != want[len(got)].Seq {
			c.TB.Fatalf("bar %s after %d bars of %s, want the next of AAPL or MSFT", m.Raw, len(got), b.Sym)
		}
		log.bars[b.Sym] = append(got, b)
		if log.raw[b.Sym] == nil {
			log.raw[b.Sym] = map[uint64]string{}
		}
		log.raw[b.Sym][b.Seq] = string(m.Raw)
	}
	return log
}

// complete reports whether l holds as many bars of each symbol as wantBars.
func (l barLog) complete() bool {
	for sym, want := range wantBars {
		if len(l.bars[sym]) < len(want) {
			return false
		}
	}
	return true
}

// checkWantBars fails unless l's bars are exactly wantBars.
func checkWantBars(t *testing.T, name string, l barLog) {
	t.Helper()
	for sym, want := range wantBars {
		for i, w := range want {
			if g := l.bars[sym][i]; g != w {
				t.Errorf("%s: %s bar %d = %+v (%s), want %+v", name, sym, i+1, g, l.raw[sym][g.Seq], w)
			}
		}
	}
}

// readTicks reads the NDJSON recording at path in file order.
func readTicks(t *testing.T, path string) []feed.Tick {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ticks []feed.Tick
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		tk, err := feed.DecodeJSON(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ticks = append(ticks, tk)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return ticks
}

// publishTicks publishes ticks, with their own ts, on NATS at url as
// "gateway publish" does (feed/nats.Publisher) and waits until the server
// has them all.
func publishTicks(t *testing.T, url string, ticks []feed.Tick) {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	pub := feednats.NewPublisher(nc, "ticks")
	for _, tk := range ticks {
		pub.Publish(tk)
	}
	if err := pub.Flush(5 * time.Second); err != nil || pub.Errors() != 0 {
		t.Fatalf("publish: %v (%d errors)", err, pub.Errors())
	}
}

// barsNATSGateway is a gateway reading the fixture's symbols from NATS at
// url, with no stall check (the test sends no heartbeats).
func barsNATSGateway(url string) map[string]string {
	cfg := natsGateway(url)
	cfg["feed.nats.symbols"] = `["AAPL", "MSFT"]`
	cfg["feed.nats.stall_after"] = "0s"
	return cfg
}

// TestBarsFleetOverNATS feeds one NATS feed to two gateways: both compute
// the same bars, byte for byte, under the same seqs, and they are the
// bars computed by hand from the ticks' ts.
func TestBarsFleetOverNATS(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.Options(-1))
	gws := []*testGateway{startGateway(t, barsNATSGateway(ns.ClientURL())), startGateway(t, barsNATSGateway(ns.ClientURL()))}
	var clients []*wstest.Client
	for _, tg := range gws {
		tg.waitReady(t) // subscribed to NATS: it will see the first tick
		c := connect(t, tg, "")
		subscribeBars(c, "")
		clients = append(clients, c)
	}
	publishTicks(t, ns.ClientURL(), readTicks(t, barsFixture))

	logs := []barLog{collectBars(clients[0]), collectBars(clients[1])}
	for i, l := range logs {
		checkWantBars(t, fmt.Sprintf("gateway %d", i), l)
	}
	for sym, raws := range logs[0].raw {
		for seq, raw := range raws {
			if other := logs[1].raw[sym][seq]; other != raw {
				t.Errorf("%s seq %d: gateway 0 sent %s, gateway 1 sent %s", sym, seq, raw, other)
			}
		}
	}
}

// TestBarsReplayRecorded replays the fixture with feed.replay.timestamps
// recorded, at the recorded pace, faster and as fast as possible: each
// gives the bars the same ticks give live over NATS (TestBarsFleetOverNATS),
// as computed by hand. The client asks for history, so bars made final
// before it subscribed still come, in order, before the live ones.
func TestBarsReplayRecorded(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		cfg  map[string]string
	}{
		{"speed 1", map[string]string{"feed.replay.speed": "1"}},
		{"speed 4", map[string]string{"feed.replay.speed": "4"}},
		{"fast", map[string]string{"feed.replay.fast": "true"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := map[string]string{
				"feed.source": "replay", "feed.replay.path": barsFixture, "feed.replay.timestamps": "recorded",
			}
			for k, v := range c.cfg {
				cfg[k] = v
			}
			tg := startGateway(t, cfg)
			cl := connect(t, tg, "")
			subscribeBars(cl, `,"history":10`)
			checkWantBars(t, c.name, collectBars(cl))
		})
	}
}
