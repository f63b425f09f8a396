package checktest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/wstest"
)

// t0 is the time the hand-made records start.
var t0 = time.Date(2026, 1, 2, 15, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// tickOf is AAPL's tick seq of a run whose ticks have ts base + seq.
func tickOf(epoch string, seq uint64, base int64) feed.Tick {
	return feed.Tick{Symbol: "AAPL", Seq: seq, Price: 100, Size: 1, Bid: 99, Ask: 101, TS: base + int64(seq), Epoch: epoch}
}

// publish records seqs from..to of a run in tr, a millisecond apart from
// ms.
func publish(tr *Truth, epoch string, base int64, from, to uint64, ms int) {
	for seq := from; seq <= to; seq++ {
		tr.AddAt(tickOf(epoch, seq, base), at(ms+int(seq-from)))
	}
}

// recorder builds a session's record by hand.
type recorder struct {
	t *testing.T
	s *Session
}

func newRecorder(t *testing.T) *recorder {
	s := NewSession(t, "hand")
	s.conn = 1
	return &recorder{t, s}
}

// got records the raw message as come at ms on connection conn.
func (r *recorder) got(ms, conn int, raw string) {
	r.t.Helper()
	m, err := wstest.Decode([]byte(raw))
	if err != nil {
		r.t.Fatal(err)
	}
	r.s.record(at(ms), conn, m)
}

// ticks records AAPL's ticks from..to of the run with ts base as come at ms.
func (r *recorder) ticks(ms, conn int, base int64, from, to uint64) {
	for seq := from; seq <= to; seq++ {
		tk := tickOf("", seq, base)
		r.got(ms, conn, string(tk.AppendJSON(nil)))
	}
}

// resubscribe records a subscribe with since sent at ms on a new
// connection.
func (r *recorder) resubscribe(ms int, stream string) {
	r.s.mu.Lock()
	r.s.conn++
	r.s.mu.Unlock()
	r.s.request(stream, []string{"AAPL"}, true)
	r.s.events[len(r.s.events)-1].at = at(ms)
}

func TestCheck(t *testing.T) {
	const run1, run2 = 1_000_000, 2_000_000 // the runs' ts bases
	for _, c := range []struct {
		name string
		play func(*Truth, *recorder)
		want Report // the counts only
	}{
		{"contiguous", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 10, 0)
			r.ticks(20, 1, run1, 1, 10)
		}, Report{Ticks: 10}},
		{"gap with its notice", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 3, 0)
			publish(tr, "a", run1, 8, 9, 10)
			r.ticks(20, 1, run1, 1, 3)
			r.got(21, 1, `{"type":"notice","code":"gap","sym":"AAPL","from":4,"to":7}`)
			r.ticks(21, 1, run1, 8, 9)
		}, Report{Ticks: 5, GapNotices: 1}},
		{"hidden gap", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 9, 0)
			r.ticks(20, 1, run1, 1, 3)
			r.ticks(21, 1, run1, 8, 9)
		}, Report{Ticks: 5, HiddenGaps: 1}},
		{"restart hidden by stale drops", func(tr *Truth, r *recorder) {
			// Without epochs: the new run's seqs 1-5 were dropped, 6 looks next.
			publish(tr, "", run1, 1, 5, 0)
			publish(tr, "", run2, 1, 8, 100)
			r.ticks(20, 1, run1, 1, 5)
			r.ticks(1000, 1, run2, 6, 8)
		}, Report{Ticks: 8, HiddenGaps: 1}},
		{"reset", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 5, 0)
			publish(tr, "b", run2, 1, 3, 100)
			r.ticks(20, 1, run1, 1, 5)
			r.got(101, 1, `{"type":"notice","code":"reset","sym":"AAPL","epoch":"b"}`)
			r.ticks(101, 1, run2, 1, 3)
		}, Report{Ticks: 8, Resets: 1}},
		{"regression", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 5, 0)
			publish(tr, "b", run2, 1, 3, 100)
			r.ticks(20, 1, run1, 1, 5)
			r.ticks(101, 1, run2, 1, 1)
		}, Report{Ticks: 6, Regressions: 1}},
		{"old run after the new one began", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 5, 0)
			publish(tr, "b", run2, 1, 3, 100)
			r.ticks(2000, 1, run1, 5, 5)
		}, Report{Ticks: 1, OldRun: 1}},
		{"never published", func(tr *Truth, r *recorder) {
			r.ticks(0, 1, run1, 1, 1)
		}, Report{Ticks: 1, Unknown: 1}},
		{"recovered exactly", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 10, 0)
			r.ticks(5, 1, run1, 1, 4)
			r.resubscribe(20, "ticks")
			r.got(21, 2, `{"type":"subscribed","id":1,"stream":"ticks","symbols":["AAPL"],"recovered":["AAPL"],"snapshot":[]}`)
			r.ticks(21, 2, run1, 5, 10)
		}, Report{Ticks: 10, Recovered: 1}},
		{"recovered over a hole", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 4, 0)
			publish(tr, "a", run1, 9, 10, 10)
			r.ticks(5, 1, run1, 1, 4)
			r.resubscribe(20, "ticks")
			r.got(21, 2, `{"type":"subscribed","id":1,"stream":"ticks","symbols":["AAPL"],"recovered":["AAPL"],"snapshot":[]}`)
			r.ticks(21, 2, run1, 9, 10)
		}, Report{Ticks: 6, Recovered: 1, FalseRecovered: 1, HiddenGaps: 0}},
		{"recovered while the feed was down, the hole told after", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 4, 0)
			publish(tr, "a", run1, 9, 10, 10)
			r.ticks(5, 1, run1, 1, 4)
			r.resubscribe(20, "ticks")
			r.got(21, 2, `{"type":"notice","code":"feed_down","msg":"down"}`)
			r.got(21, 2, `{"type":"subscribed","id":1,"stream":"ticks","symbols":["AAPL"],"recovered":["AAPL"],"snapshot":[]}`)
			r.got(30, 2, `{"type":"notice","code":"gap","sym":"AAPL","from":5,"to":8}`)
			r.ticks(30, 2, run1, 9, 10)
			r.got(30, 2, `{"type":"notice","code":"feed_up"}`)
		}, Report{Ticks: 6, Recovered: 1, GapNotices: 1}},
		{"recovered while the feed was down, the hole not told", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 4, 0)
			publish(tr, "a", run1, 9, 10, 10)
			r.ticks(5, 1, run1, 1, 4)
			r.resubscribe(20, "ticks")
			r.got(21, 2, `{"type":"notice","code":"feed_down","msg":"down"}`)
			r.got(21, 2, `{"type":"subscribed","id":1,"stream":"ticks","symbols":["AAPL"],"recovered":["AAPL"],"snapshot":[]}`)
			r.ticks(30, 2, run1, 9, 10)
		}, Report{Ticks: 6, Recovered: 1, FalseRecovered: 1}},
		{"recovered over a hole with the feed up, told after", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 4, 0)
			publish(tr, "a", run1, 9, 10, 10)
			r.ticks(5, 1, run1, 1, 4)
			r.got(6, 1, `{"type":"notice","code":"feed_down","msg":"down"}`)
			r.got(7, 1, `{"type":"notice","code":"feed_up"}`)
			r.resubscribe(20, "ticks")
			r.got(21, 2, `{"type":"subscribed","id":1,"stream":"ticks","symbols":["AAPL"],"recovered":["AAPL"],"snapshot":[]}`)
			r.got(30, 2, `{"type":"notice","code":"gap","sym":"AAPL","from":5,"to":8}`)
			r.ticks(30, 2, run1, 9, 10)
		}, Report{Ticks: 6, Recovered: 1, FalseRecovered: 1, GapNotices: 1}},
		{"recovered into another run", func(tr *Truth, r *recorder) {
			// A sim gateway restarted with the same seed: its seqs pass the
			// client's, under another run.
			publish(tr, "run1", run1, 1, 4, 0)
			publish(tr, "run2", run2, 1, 10, 100)
			r.ticks(5, 1, run1, 1, 4)
			r.resubscribe(2000, "ticks")
			r.got(2001, 2, `{"type":"subscribed","id":1,"stream":"ticks","symbols":["AAPL"],"recovered":["AAPL"],"snapshot":[]}`)
			r.ticks(2001, 2, run2, 5, 10)
		}, Report{Ticks: 10, Recovered: 1, FalseRecovered: 1}},
		{"snapshot of the new run", func(tr *Truth, r *recorder) {
			publish(tr, "a", run1, 1, 4, 0)
			publish(tr, "b", run2, 1, 10, 100)
			r.ticks(5, 1, run1, 1, 4)
			r.resubscribe(2000, "ticks")
			r.got(2001, 2, `{"type":"subscribed","id":1,"stream":"ticks","symbols":["AAPL"],"epochs":{"AAPL":"b"},"recovered":[],"snapshot":["AAPL"]}`)
			r.ticks(2001, 2, run2, 10, 10)
		}, Report{Ticks: 5, Snapshots: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTruth()
			r := newRecorder(t)
			c.play(tr, r)
			got := r.s.Check(tr)
			if counts(got) != counts(c.want) {
				t.Errorf("got %s\nwant %s", got, c.want)
			}
		})
	}
}

// counts is r without its problems, to compare.
func counts(r Report) string {
	r.Problems = nil
	return fmt.Sprintf("%+v", r)
}

// barOf is AAPL's bars.1s bar of bucket sec (from t0) as a gateway sends it.
func barOf(sec int64, o, c float64, v, n int64, prev int64) string {
	t := t0.UnixNano() + sec*1e9
	return fmt.Sprintf(`{"type":"bar","stream":"bars.1s","sym":"AAPL","t":%d,"o":%g,"h":%g,"l":%g,"c":%g,"v":%d,"n":%d,"seq":%d,"prev":%d}`,
		t, o, max(o, c), min(o, c), c, v, n, t/1e9, prev)
}

func TestCheckBars(t *testing.T) {
	tr := NewTruth()
	base := t0.UnixNano()
	// Buckets 0, 1 and 3 have two ticks each, 100 then 101; bucket 2 none.
	for _, sec := range []int64{0, 1, 3} {
		for i, px := range []float64{100, 101} {
			tr.AddAt(feed.Tick{Symbol: "AAPL", Seq: uint64(sec*2 + int64(i) + 1), Price: px, Size: 10, Bid: 99, Ask: 102, TS: base + sec*1e9 + int64(i)*1e8}, at(int(sec)*1000))
		}
	}
	s0 := base / 1e9
	r := newRecorder(t)
	r.got(1000, 1, barOf(0, 100, 101, 20, 2, s0-1))
	r.got(2000, 1, barOf(1, 100, 100, 10, 1, s0)) // joined part-way, sent as final
	r.got(4000, 1, barOf(3, 100, 101, 20, 2, s0+1))
	got := r.s.Check(tr)
	if got.BadBars != 1 || got.Faults() != 1 {
		t.Errorf("partial bucket as final: %s", got)
	}

	r = newRecorder(t)
	r.got(1000, 1, barOf(0, 100, 101, 20, 2, s0-1))
	r.got(4000, 1, barOf(3, 100, 101, 20, 2, s0+1)) // bucket 1 skipped
	if got := r.s.Check(tr); got.HiddenGaps != 1 || got.Faults() != 1 {
		t.Errorf("a bucket skipped: %s", got)
	}

	// Moved with since from bucket 1: bucket 3 follows (2 was quiet) is
	// exact; bucket 0 again is not.
	for _, c := range []struct {
		next  string
		false int
	}{{barOf(3, 100, 101, 20, 2, s0+1), 0}, {barOf(0, 100, 101, 20, 2, s0-1), 1}} {
		r = newRecorder(t)
		r.got(1000, 1, barOf(0, 100, 101, 20, 2, s0-1))
		r.got(2000, 1, barOf(1, 100, 101, 20, 2, s0))
		r.resubscribe(3000, "bars.1s")
		r.got(4000, 2, `{"type":"subscribed","id":1,"stream":"bars.1s","symbols":["AAPL"],"recovered":["AAPL"],"snapshot":[]}`)
		r.got(4000, 2, c.next)
		if got := r.s.Check(tr); got.FalseRecovered != c.false || got.Recovered != 1 {
			t.Errorf("recovered, then %s: %s", c.next, got)
		}
	}
}

func TestLag(t *testing.T) {
	const run1, run2 = 1_000_000, 2_000_000
	tr := NewTruth()
	publish(tr, "a", run1, 1, 5, 0)
	publish(tr, "b", run2, 1, 5, 100) // restarted at 50ms: seq 1 at 100ms
	r := newRecorder(t)
	r.ticks(10, 1, run1, 1, 5)
	r.got(350, 1, `{"type":"notice","code":"reset","sym":"AAPL","epoch":"b"}`)
	r.ticks(350, 1, run2, 1, 5)
	if lag, desc := r.s.Lag(tr, at(50), []string{"AAPL"}); lag != 250*time.Millisecond {
		t.Errorf("lag %v (%s), want 250ms: the new run's seq 1 at 100ms, got at 350ms", lag, desc)
	}
	if got := r.s.Check(tr); got.Faults() != 0 || got.Resets != 1 {
		t.Errorf("%s", got)
	}
}

// TestCheckBeforeSync: a tick a session got after the truth's last Sync
// began may not have reached the truth yet, so it is not judged; without
// a Sync every message is.
func TestCheckBeforeSync(t *testing.T) {
	const run = 1_000_000
	synced, unsynced := NewTruth(), NewTruth()
	publish(synced, "", run, 1, 3, 0)
	publish(unsynced, "", run, 1, 3, 0)
	r := newRecorder(t)
	r.ticks(10, 1, run, 1, 3)
	synced.Sync(t)
	tk := tickOf("", 4, run) // not in either truth (yet)
	m, err := wstest.Decode(tk.AppendJSON(nil))
	if err != nil {
		t.Fatal(err)
	}
	r.s.record(time.Now(), 1, m)
	if got := r.s.Check(synced); got.Faults() != 0 || got.Ticks != 3 {
		t.Errorf("after Sync: %s, want the 3 ticks got before it judged, none after", got)
	}
	if got := r.s.Check(unsynced); got.Unknown != 1 || got.Ticks != 4 {
		t.Errorf("with no Sync: %s, want all 4 ticks judged, 1 unknown", got)
	}
}
