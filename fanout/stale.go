package fanout

// staleCheck is the shard's schedule of stale statuses: when the first
// open symbol of the shard, in either tier, may have gone StaleAfter
// without a tick. Its run scans the shard's symbols, marks those past it
// stale and works out the next; a tick only moves a symbol's time later,
// so the schedule is never late, only sometimes early, and the grain
// bounds how often it scans. shard.mu protects it.
type staleCheck struct {
	after  int64       // Config.StaleAfter in ns; 0: off
	grain  int64       // scans are due on multiples of it
	health *feedHealth // the engine's
	due    int64       // the next scan; 0 for none
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

// run marks stale each open symbol of the shard that has had no tick for
// StaleAfter by now, in either tier, unless the feed is down, and makes
// the schedule due for the first one that may be next.
func (sc *staleCheck) run(s *shard, now int64) {
	if sc.due == 0 || now < sc.due {
		return
	}
	sc.due = 0
	down, upAt := sc.health.down.Load(), sc.health.upAt.Load()
	for _, sym := range s.syms {
		for _, tier := range [2]*symbol{sym, sym.delayed} {
			if tier == nil || tier.status.stale || !tier.status.open() {
				continue
			}
			active := max(tier.status.activeAt, upAt)
			switch {
			case down: // the feed_down notice speaks for every symbol: look again later
				sc.watch(now)
			case now-active >= sc.after:
				s.markStale(tier, now)
			default:
				sc.watch(active)
			}
		}
	}
}
