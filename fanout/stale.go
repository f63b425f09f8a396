package fanout

// staleCheck is the shard's schedule of stale statuses: the symbols, in
// either tier, that are open and not stale (those the feed or a tick made
// so, listed as they become it), and when the first of them may have
// gone StaleAfter without a tick. Its run walks that list, marks those
// past it stale, drops those no longer open, and works out the next; a
// tick only moves a symbol's time later, so the schedule is never late,
// only sometimes early, and the grain bounds how often it walks. What a
// walk costs follows the symbols that ticked in the last StaleAfter, not
// the symbols listed. shard.mu protects it.
type staleCheck struct {
	after   int64       // Config.StaleAfter in ns; 0: off
	grain   int64       // walks are due on multiples of it
	health  *feedHealth // the engine's
	due     int64       // the next walk; 0 for none
	watched []*symbol   // statusState.watched: open and not stale when listed
}

func newStaleCheck(after int64) staleCheck {
	if after <= 0 {
		return staleCheck{}
	}
	return staleCheck{after: after, grain: min(max(after/20, int64(10e6)), int64(1e9))}
}

func (sc *staleCheck) next() int64 { return sc.due }

// watch makes the schedule due by StaleAfter after active, rounded up to
// the grain.
func (sc *staleCheck) watch(active int64) {
	if sc.after == 0 {
		return
	}
	at := ((active+sc.after)/sc.grain + 1) * sc.grain
	if sc.due == 0 || at < sc.due {
		sc.due = at
	}
}

// add puts sym, open and not stale now, on the list, and makes the
// schedule due by StaleAfter after now.
func (sc *staleCheck) add(sym *symbol, now int64) {
	if sc.after == 0 {
		return
	}
	if st := &sym.status; !st.watched {
		st.watched = true
		sc.watched = append(sc.watched, sym)
	}
	sc.watch(now)
}

// run marks stale each listed symbol that has had no tick for StaleAfter
// by now, unless the feed is down, drops those no longer open (a status,
// a reset or a retirement changed them), and makes the schedule due for
// the first one that may be next.
func (sc *staleCheck) run(s *shard, now int64) {
	if sc.due == 0 || now < sc.due {
		return
	}
	sc.due = 0
	down, upAt := sc.health.down.Load(), sc.health.upAt.Load()
	keep := sc.watched[:0]
	for _, sym := range sc.watched {
		st := &sym.status
		if st.stale || !st.open() {
			st.watched = false
			continue
		}
		active := max(st.activeAt, upAt)
		switch {
		case down: // the feed_down notice speaks for every symbol: look again later
			sc.watch(now)
		case now-active >= sc.after:
			s.markStale(sym, now)
			st.watched = false
			continue
		default:
			sc.watch(active)
		}
		keep = append(keep, sym)
	}
	clear(sc.watched[len(keep):])
	sc.watched = keep
}
