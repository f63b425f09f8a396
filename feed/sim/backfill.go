package sim

import (
	"math"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// Backfill: a simulated gateway starts with a past. Before its first live
// tick, Run publishes synthetic ticks (feed.Tick.Synthetic) stamped over
// Config.Backfill up to the whole minute before its start, as the first
// seqs of its run, in time order across symbols. The engine takes them as
// it takes any tick (history, snapshots, bars closing on the feed clock),
// so a chart has bars from the first second, and the first live tick
// carries the run on: the same epoch, the next seq, the walk's next step.
// Only the gateway's own simulator backfills (cmd/gateway): a publisher
// into NATS never does, nor do the NATS and replay sources.

const (
	// backfillBudget is the most synthetic ticks one backfill makes: what
	// the engine takes in a fraction of a second at start.
	backfillBudget = 200_000
	// backfillEvery is how often each symbol ticks in the past: 12 times a
	// minute, so each minute's bar has an open, high, low and close of its
	// own.
	backfillEvery = 5 * time.Second
	// backfillSparsest is how far the budget may spread a symbol's ticks
	// (4 a minute); past it the window is made shorter instead.
	backfillSparsest = 15 * time.Second
	// maxBackfill bounds Config.Backfill.
	maxBackfill = 24 * time.Hour
)

// backfillPlan is when the synthetic ticks fall: each symbol's every
// `every` ns from `from`, the symbols spread evenly over each step, none at
// or after `end` (Unix ns).
type backfillPlan struct {
	from, end, every int64
}

// planBackfill lays out window's worth of history for n symbols, ending at
// the whole minute before now (Unix ns), so no bar holds both synthetic and
// live ticks. Within the budget each symbol ticks every backfillEvery;
// more symbols spread their ticks out, up to backfillSparsest, and beyond
// that the window shrinks.
func planBackfill(window time.Duration, n int, now int64) backfillPlan {
	end := now - now%int64(time.Minute)
	every := max(backfillEvery, time.Duration(float64(window)*float64(n)/backfillBudget))
	if every > backfillSparsest {
		every = backfillSparsest
		window = time.Duration(backfillBudget / float64(n) * float64(every))
	}
	return backfillPlan{from: end - int64(window), end: end, every: int64(every)}
}

// backfill publishes the synthetic history planned for a start at now
// into sink, checking done every 1024 ticks; it reports false if done
// closed.
func (s *Source) backfill(done <-chan struct{}, sink feed.Sink, now int64) bool {
	p := planBackfill(s.backfillWindow, len(s.syms), now)
	n := int64(len(s.syms))
	sent := 0
	for slot := p.from; slot < p.end; slot += p.every {
		for i := range n {
			ts := slot + p.every*i/n
			if ts >= p.end {
				break
			}
			if sent++; sent%1024 == 0 {
				select {
				case <-done:
					return false
				default:
				}
			}
			sink.Publish(s.synthetic(&s.syms[i], ts, p.every))
		}
	}
	return true
}

// synthetic makes sym's next tick, stamped ts, a synthetic one standing
// for the every ns of trading before it: its price moves as far as the
// live walk does in that time, and its size adds up the trades it stands
// for.
func (s *Source) synthetic(sym *symbol, ts, every int64) feed.Tick {
	span := time.Duration(every).Seconds()
	drift, vol := sym.walk(span / tradingYear)
	t := s.tick(sym, drift, vol, ts)
	t.Size *= max(1, int64(math.Round(span*sym.rate)))
	t.Synthetic = true
	return t
}
