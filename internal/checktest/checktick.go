package checktest

// tick classifies a tick against the truth and the topic's last tick.
func (c *checker) tick(e event) {
	m := e.msg
	c.r.Ticks++
	st := c.state(topic{"ticks", m.Sym})
	x, known := c.tr.find(m.Sym, m.Seq, m.TS)
	if !known {
		c.r.Unknown++
		c.problem(e.at, "%s seq %d ts %d was never published", m.Sym, m.Seq, m.TS)
	} else if by := c.tr.replacedBy(m.Sym, x.Run, e.at, Slack); by != "" {
		c.r.OldRun++
		c.problem(e.at, "%s seq %d is of run %s, replaced by run %s", m.Sym, m.Seq, x.Run, by)
	}
	switch {
	case st.want == wantRecovered:
		// Answered while the feed was down, a hole the feed brought later
		// must be told (judgeSince).
		next := x.Tick.Seq == st.since.Tick.Seq+1 || st.down && c.told(st, m.Seq, m.N)
		if !st.told && !(known && st.sinceOK && x.Run == st.since.Run && next) {
			c.r.FalseRecovered++
			c.problem(e.at, "%s recovered from seq %d (run %s), then seq %d (%s)", m.Sym, st.seq, st.since.Run, m.Seq, runOf(x, known))
		}
	case st.want == wantAny || st.conn != e.conn:
	case m.Seq <= st.seq:
		c.r.Regressions++
		c.problem(e.at, "%s seq %d after %d, with no reset notice", m.Sym, m.Seq, st.seq)
	case m.Seq > st.seq+1 && !c.told(st, m.Seq, m.N):
		c.r.HiddenGaps++
		c.problem(e.at, "%s seq %d after %d, with no gap notice", m.Sym, m.Seq, st.seq)
	case known && st.known && x.Run != st.last.Run:
		c.r.HiddenGaps++
		c.problem(e.at, "%s seq %d after %d: run %s after run %s, with no reset notice", m.Sym, m.Seq, st.seq, x.Run, st.last.Run)
	}
	st.conn, st.seq, st.last, st.known = e.conn, m.Seq, x, known
	st.want, st.gapSet, st.told = wantNext, false, false
}

// told reports whether a jump of the topic's seq to seq was announced: by
// a gap notice naming exactly the seqs missing, or by a conflated tick's
// count n covering them.
func (c *checker) told(st *state, seq, n uint64) bool {
	if st.gapSet && st.gap == [2]uint64{st.seq + 1, seq - 1} {
		return true
	}
	return n > 1 && seq-st.seq <= n
}

func runOf(x Entry, known bool) string {
	if !known {
		return "never published"
	}
	return "run " + x.Run
}

// intervals are the bar streams' bucket widths, in nanoseconds.
var intervals = map[string]int64{"bars.1s": 1e9, "bars.1m": 60e9}

// bar classifies a final bar against the truth's bar of its bucket and the
// topic's last bar.
func (c *checker) bar(e event) {
	m := e.msg
	c.r.Bars++
	iv := intervals[m.Stream]
	st := c.state(topic{m.Stream, m.Sym})
	got := Bar{O: m.O, H: m.H, L: m.L, C: m.C, V: m.V, N: e.w.N}
	switch truth, ok := c.tr.bar(m.Sym, m.T, iv); {
	case iv == 0:
		c.r.BadBars++
		c.problem(e.at, "bar of unknown stream %q", m.Stream)
		return
	case !ok || truth != got:
		c.r.BadBars++
		c.problem(e.at, "%s %s bar t=%d is %+v, its bucket's ticks make %+v", m.Stream, m.Sym, m.T, got, truth)
	case m.Seq != uint64(m.T/iv):
		c.r.BadBars++
		c.problem(e.at, "%s %s bar t=%d has seq %d, not its bucket %d", m.Stream, m.Sym, m.T, m.Seq, m.T/iv)
	}
	switch {
	case st.want == wantRecovered:
		if !st.told && (m.T <= st.sinceBarT || c.tr.bucketsBetween(m.Sym, st.sinceBarT, m.T, iv)) {
			c.r.FalseRecovered++
			c.problem(e.at, "%s %s recovered from the bar of t=%d, then the bar of t=%d", m.Stream, m.Sym, st.sinceBarT, m.T)
		}
	case st.want == wantAny || st.conn != e.conn:
	case m.T <= st.barT:
		c.r.Regressions++
		c.problem(e.at, "%s %s bar t=%d after t=%d", m.Stream, m.Sym, m.T, st.barT)
	case c.tr.bucketsBetween(m.Sym, st.barT, m.T, iv):
		c.r.HiddenGaps++
		c.problem(e.at, "%s %s bar t=%d after t=%d skips a bucket that had ticks", m.Stream, m.Sym, m.T, st.barT)
	}
	st.conn, st.seq, st.barT = e.conn, m.Seq, m.T
	st.want, st.told = wantNext, false
}
