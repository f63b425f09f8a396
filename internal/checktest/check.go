package checktest

import (
	"fmt"
	"strings"
	"time"
)

// Slack is how long after a run starts a gateway may still serve the run
// before it: a tick of the old run that was on its way when the new one
// began is not a fault.
const Slack = 500 * time.Millisecond

// maxProblems bounds the problems a Report describes.
const maxProblems = 20

// Report is what Check found in a session's record.
type Report struct {
	Ticks, Bars int // ticks and final bars received
	Recovered   int // symbols a subscribed reply listed as recovered
	Snapshots   int // and as snapshot
	GapNotices  int
	Resets      int

	// FalseRecovered counts recovered answers that were untrue: the
	// position was of a replaced run, the run has a hole after it, or what
	// followed was not the run's next tick (bar) after it.
	FalseRecovered int
	// HiddenGaps counts seq jumps with no gap notice before them, and run
	// changes with no reset notice (the seqs may look contiguous).
	HiddenGaps int
	// Regressions counts ticks or bars not after the last of their topic on
	// one connection, with no reset notice before them.
	Regressions int
	// OldRun counts ticks of a run the truth had replaced at least Slack
	// before they came.
	OldRun int
	// Unknown counts ticks the truth never saw published.
	Unknown int
	// BadBars counts final bars unlike the truth's bar of their bucket (a
	// bucket the gateway joined part-way, say) or whose seq is not their
	// bucket number.
	BadBars int

	Problems []string // the first maxProblems, described
}

// Faults is the sum of the counts that are each a fault.
func (r Report) Faults() int {
	return r.FalseRecovered + r.HiddenGaps + r.Regressions + r.OldRun + r.Unknown + r.BadBars
}

func (r Report) String() string {
	s := fmt.Sprintf("%d ticks, %d bars, %d recovered, %d snapshot, %d gap notices, %d resets; faults: %d false recovered, %d hidden gaps, %d regressions, %d old-run, %d unknown, %d bad bars",
		r.Ticks, r.Bars, r.Recovered, r.Snapshots, r.GapNotices, r.Resets,
		r.FalseRecovered, r.HiddenGaps, r.Regressions, r.OldRun, r.Unknown, r.BadBars)
	if len(r.Problems) > 0 {
		s += "\n\t" + strings.Join(r.Problems, "\n\t")
	}
	return s
}

// want is what a topic's next tick or bar must be.
type want int

const (
	wantNext      want = iota // the next of the connection's run
	wantAny                   // a snapshot, a first tick, or after a reset
	wantRecovered             // the next after the since position
)

// state is a topic as the checker follows it.
type state struct {
	conn  int // connection of the last tick or bar
	seq   uint64
	last  Entry // its truth entry
	known bool  // the truth knows last
	barT  int64 // the last bar's bucket start

	want      want
	since     Entry // wantRecovered: the position asked from
	sinceOK   bool  // the truth knew it
	sinceBarT int64
	told      bool // the recovered answer was already found false
	down      bool // the recovered answer came while its connection's feed was down
	gap       [2]uint64
	gapSet    bool
}

// checker classifies one session's events.
type checker struct {
	tr      *Truth
	name    string
	r       Report
	st      map[topic]*state
	pending map[int64]*request
	since   map[int64]map[string]state // positions at the time of each request
	down    map[int]bool               // connections told feed_down and not yet feed_up
}

// Check classifies every message the session got so far against tr: of
// a truth recorded from NATS, every message it got before tr's last Sync
// began (Sync).
func (s *Session) Check(tr *Truth) Report {
	return check(tr, s.name, s.snapshot(tr.syncedAt()))
}

func check(tr *Truth, name string, events []event) Report {
	c := &checker{tr: tr, name: name, st: map[topic]*state{}, pending: map[int64]*request{}, since: map[int64]map[string]state{}, down: map[int]bool{}}
	for _, e := range events {
		switch {
		case e.sent != nil:
			c.sent(e.sent)
		case e.msg.Type == "subscribed":
			c.subscribed(e)
		case e.msg.Type == "notice":
			c.notice(e)
		case e.msg.Type == "tick":
			c.tick(e)
		case e.msg.Type == "bar" && !e.msg.Partial:
			c.bar(e)
		}
	}
	return c.r
}

func (c *checker) problem(at time.Time, format string, args ...any) {
	if len(c.r.Problems) < maxProblems {
		c.r.Problems = append(c.r.Problems, c.name+" "+at.Format("15:04:05.000")+": "+fmt.Sprintf(format, args...))
	}
}

func (c *checker) state(tp topic) *state {
	st := c.st[tp]
	if st == nil {
		st = &state{want: wantAny}
		c.st[tp] = st
	}
	return st
}

// sent keeps the positions a request's since was built from.
func (c *checker) sent(req *request) {
	c.pending[req.id] = req
	pos := map[string]state{}
	for sym := range req.since {
		pos[sym] = *c.state(topic{req.stream, sym})
	}
	c.since[req.id] = pos
}

// subscribed sets what each symbol's next tick or bar must be, and judges
// each recovered answer on what the truth knew when it came.
func (c *checker) subscribed(e event) {
	m := e.msg
	stream := streamOf(*m)
	var req *request
	if m.ID != nil {
		req = c.pending[*m.ID]
	}
	recovered := map[string]bool{}
	for _, sym := range m.Recovered {
		recovered[sym] = true
	}
	c.r.Snapshots += len(m.Snapshot)
	for _, sym := range m.Symbols {
		st := c.state(topic{stream, sym})
		st.want, st.told, st.gapSet = wantAny, false, false
		if !recovered[sym] {
			continue
		}
		c.r.Recovered++
		var pos state
		ok := req != nil
		if ok {
			pos, ok = c.since[req.id][sym]
		}
		if !ok {
			c.r.FalseRecovered++
			c.problem(e.at, "%s %s recovered, but no since was sent for it", stream, sym)
			continue
		}
		st.want, st.since, st.sinceOK, st.sinceBarT = wantRecovered, pos.last, pos.known, pos.barT
		st.conn, st.seq, st.down = e.conn, pos.seq, c.down[e.conn]
		if stream == "ticks" {
			c.judgeSince(e, st, sym)
		}
	}
}

// judgeSince finds a recovered tick answer false, when it is, from what
// the truth knew at the answer: a position of a replaced run, or a hole
// after it. An answer given while the connection's feed was down is held
// only to what the gateway had: it told the client it may be missing
// ticks, so a hole the feed had not brought yet must be told by a gap
// notice when it comes (tick).
func (c *checker) judgeSince(e event, st *state, sym string) {
	switch {
	case st.down && st.sinceOK:
		return
	case !st.sinceOK:
		c.problem(e.at, "%s recovered from seq %d, a tick the truth never saw", sym, st.seq)
	case c.tr.replacedBy(sym, st.since.Run, e.at, Slack) != "":
		c.problem(e.at, "%s recovered from seq %d of run %s, replaced by run %s", sym, st.seq, st.since.Run, c.tr.replacedBy(sym, st.since.Run, e.at, Slack))
	default:
		if hole := c.tr.holeAfter(st.since, e.at); hole != 0 {
			c.problem(e.at, "%s recovered from seq %d, but seq %d of its run was never published", sym, st.seq, hole)
		} else {
			return
		}
	}
	c.r.FalseRecovered++
	st.told = true
}

func (c *checker) notice(e event) {
	m := e.msg
	st := c.state(topic{streamOf(*m), m.Sym})
	switch m.Code {
	case "feed_down":
		c.down[e.conn] = true
	case "feed_up":
		c.down[e.conn] = false
	case "gap":
		c.r.GapNotices++
		st.gap, st.gapSet = [2]uint64{e.w.From, e.w.To}, true
	case "reset":
		c.r.Resets++
		st.want, st.gapSet = wantAny, false
	}
}
