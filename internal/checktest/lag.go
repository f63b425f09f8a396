package checktest

import (
	"fmt"
	"time"
)

// Lag returns, over syms, the longest time from the first tick the truth
// saw after at (a publisher restart) to the first tick published after at
// that the session got: how long a symbol was silent. A symbol the
// session got no such tick of by now counts from that first tick to now,
// and is named in the description.
func (s *Session) Lag(tr *Truth, at time.Time, syms []string) (worst time.Duration, desc string) {
	events := s.snapshot(time.Time{})
	now := time.Now()
	for _, sym := range syms {
		first, ok := tr.firstAfter(sym, at)
		if !ok {
			continue
		}
		lag, got := now.Sub(first.At), false
		for _, e := range events {
			if e.msg == nil || e.msg.Type != "tick" || e.msg.Sym != sym {
				continue
			}
			if x, ok := tr.find(sym, e.msg.Seq, e.msg.TS); ok && x.At.After(at) {
				lag, got = e.at.Sub(first.At), true
				break
			}
		}
		if lag > worst {
			worst, desc = lag, fmt.Sprintf("%s %s: %v", s.name, sym, lag.Round(time.Millisecond))
			if !got {
				desc += " and still no tick of after the restart"
			}
		}
	}
	return worst, desc
}
