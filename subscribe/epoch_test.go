package subscribe

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/wstest"
)

// publishRun publishes sym's ticks seqs of epoch ep and waits until the
// engine has taken them.
func (e *testEnv) publishRun(sym, ep string, seqs ...uint64) {
	e.t.Helper()
	e.mu.Lock()
	for _, seq := range seqs {
		px := 100 + float64(seq%100)/100
		e.put(feed.Tick{Symbol: sym, Seq: seq, Price: px, Size: 100, Bid: px - 0.01, Ask: px + 0.01, TS: time.Now().UnixNano(), Epoch: ep})
	}
	e.mu.Unlock()
	e.taken()
}

// epochsOf is the "epochs" of a subscribed reply, as sent.
func epochsOf(tb testing.TB, m msg) map[string]string {
	tb.Helper()
	var r struct {
		Epochs map[string]string `json:"epochs"`
	}
	if err := json.Unmarshal(m.Raw, &r); err != nil {
		tb.Fatalf("%s: %v", m.Raw, err)
	}
	return r.Epochs
}

// expectNotice reads the next message and checks it is exactly want.
func expectNotice(c *wstest.Client, want string) {
	c.TB.Helper()
	if m := c.Next(); string(m.Raw) != want {
		c.TB.Fatalf("got %s, want %s", m.Raw, want)
	}
}

// TestEpochsInSubscribed: subscribed names the epoch of each symbol it
// added that has had a tick, on every stream.
func TestEpochsInSubscribed(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 16, BarHistory: 4})
	e.publishRun("AAPL", "k3x9f0a1b2c4", 1, 2)
	c := e.dial("")
	for i, stream := range []string{"ticks", "bars.1s"} {
		c.Send(fmt.Sprintf(`{"op":"subscribe","id":%d,"stream":%q,"symbols":["AAPL","MSFT"]}`, i+1, stream))
		r := expectReply(c, "subscribed", int64(i+1))
		if got := fmt.Sprint(epochsOf(t, r)); got != "map[AAPL:k3x9f0a1b2c4]" {
			t.Fatalf("%s: epochs %s in %s", stream, got, r.Raw)
		}
		if stream == "ticks" {
			expectTicks(c, "AAPL", 1, 1) // the snapshot
		}
	}
}

// TestResetOverSocket: a publisher restart reaches a connected client as
// a reset notice, then the new run's ticks from seq 1 at once.
func TestResetOverSocket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 16})
	c := e.dialSubscribed("AAPL")
	e.publishRun("AAPL", "a", 1, 2, 3)
	expectTicks(c, "AAPL", 0, 3)
	e.publishRun("AAPL", "b", 1, 2)
	expectNotice(c, `{"type":"notice","code":"reset","sym":"AAPL","epoch":"b"}`)
	expectTicks(c, "AAPL", 0, 2)
	e.publishRun("AAPL", "a", 4) // the old publisher still running: dropped
	e.publishRun("AAPL", "b", 3)
	expectTicks(c, "AAPL", 2, 1)
	if got := gatheredLabel(t, e, "tickgate_feed_dropped_ticks_total", "epoch_conflict"); got != 1 {
		t.Fatalf("epoch conflicts %v, want 1", got)
	}
}

// TestGapOverSocket: a seq jump is told in-band, before the tick after it.
func TestGapOverSocket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 16})
	c := e.dialSubscribed("AAPL")
	e.publishRun("AAPL", "a", 1, 2, 6)
	expectTicks(c, "AAPL", 0, 2)
	expectNotice(c, `{"type":"notice","code":"gap","sym":"AAPL","from":3,"to":5}`)
	expectTicks(c, "AAPL", 5, 1)

	// A since across the hole is a snapshot; one after it is recovered.
	for _, tc := range []struct{ since, want string }{
		{`{"seq":1,"epoch":"a"}`, "snapshot"},
		{`{"seq":5,"epoch":"a"}`, "recovered"},
	} {
		r := e.dial("")
		r.Send(`{"op":"subscribe","id":1,"symbols":["AAPL"],"since":{"AAPL":` + tc.since + `}}`)
		m := expectReply(r, "subscribed", 1)
		if how := map[bool]string{true: "recovered", false: "snapshot"}[slices.Equal(m.Recovered, []string{"AAPL"})]; how != tc.want {
			t.Fatalf("since %s: %s", tc.since, m.Raw)
		}
		expectTicks(r, "AAPL", 5, 1)
	}
}

// TestSinceForms: since takes {"seq","epoch"} and the legacy bare seq; a
// since of another epoch is a snapshot; a bad shape is invalid_request.
func TestSinceForms(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 16})
	e.publishRun("AAPL", "a", 1, 2, 3)
	e.publishRun("AAPL", "b", 1, 2, 3, 4)
	for _, tc := range []struct {
		since string
		want  string // recovered, snapshot, or an error code
	}{
		{`{"seq":2,"epoch":"b"}`, "recovered"},
		{`{"epoch":"b","seq":2}`, "recovered"},
		{`2`, "recovered"}, // legacy: taken as the current epoch
		{`{"seq":2,"epoch":"a"}`, "snapshot"},
		{`{"seq":3,"epoch":"a"}`, "snapshot"}, // the old run's seq that looks current
		{`{"seq":2,"epoch":"nope"}`, "snapshot"},
		{`"2"`, CodeInvalidRequest},
		{`-1`, CodeInvalidRequest},
		{`1.5`, CodeInvalidRequest},
		{`null`, CodeInvalidRequest},
		{`{"seq":2}`, CodeInvalidRequest},
		{`{"epoch":"b"}`, CodeInvalidRequest},
		{`{"seq":2,"epoch":""}`, CodeInvalidRequest},
		{`{"seq":2,"epoch":7}`, CodeInvalidRequest},
		{`{"seq":2,"epoch":"b","x":1}`, CodeInvalidRequest},
		{`[2,"b"]`, CodeInvalidRequest},
	} {
		c := e.dial("")
		c.Send(`{"op":"subscribe","id":1,"symbols":["AAPL"],"since":{"AAPL":` + tc.since + `}}`)
		m := c.Next()
		switch {
		case m.Type == "error":
			if m.Code != tc.want {
				t.Errorf("since %s: %s, want %s", tc.since, m.Raw, tc.want)
			}
		case tc.want == "recovered" && slices.Equal(m.Recovered, []string{"AAPL"}):
			expectTicks(c, "AAPL", 2, 2)
		case tc.want == "snapshot" && slices.Equal(m.Snapshot, []string{"AAPL"}):
			expectTicks(c, "AAPL", 3, 1)
		default:
			t.Errorf("since %s: %s, want %s", tc.since, m.Raw, tc.want)
		}
		if got := fmt.Sprint(epochsOf(t, m)); m.Type != "error" && got != "map[AAPL:b]" {
			t.Errorf("since %s: epochs %s", tc.since, got)
		}
	}
}
