package sim

import (
	"math/rand/v2"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// Halt model: with Config.HaltsPerHour, an open symbol halts at that rate
// per hour of feed time, for a reason a real tape gives (a limit-up/limit-
// down pause, LUDP, three times in four; else news pending, T1). A halt
// lasts HaltDuration on average, then the symbol is in its reopening
// auction for a fifth of that, then open again. While not open it does not
// trade, though its price moves on, so it reopens where the news took it.
// Each change is a draw on the symbol's turn, with the chance that makes
// the mean come out in feed time at the configured rate; so a seed still
// gives the same halts.
const (
	defaultHaltDuration = 15 * time.Second
	auctionShare        = 0.2 // an auction lasts this fraction of a halt, on average
	pauseShare          = 0.75
	pauseReason         = "LUDP"
	newsReason          = "T1"
)

// halt is one symbol's trading state and the status numbering of its
// messages.
type halt struct {
	state  string // feed.StatusOpen, StatusHalted or StatusAuction
	reason string
	seq    uint64 // of the last status message sent
	// Chances per turn of the symbol: that an open symbol halts, that a
	// halt moves to the auction, that the auction ends.
	pHalt, pAuction, pOpen float64
}

// newHalt sets up the trading state of a symbol that gets share of rate
// turns a second.
func newHalt(share, rate, perHour float64, mean time.Duration) halt {
	turn := 1 / (rate * share) // seconds between the symbol's turns
	return halt{
		state:    feed.StatusOpen,
		pHalt:    perHour / 3600 * turn,
		pAuction: turn / mean.Seconds(),
		pOpen:    turn / (auctionShare * mean.Seconds()),
	}
}

// turn advances the state by one of the symbol's turns and reports whether
// it changed. It draws once from rng.
func (h *halt) turn(rng *rand.Rand) bool {
	u := rng.Float64()
	switch h.state {
	case feed.StatusOpen:
		if u >= h.pHalt {
			return false
		}
		h.state, h.reason = feed.StatusHalted, newsReason
		if u < pauseShare*h.pHalt {
			h.reason = pauseReason
		}
	case feed.StatusHalted:
		if u >= h.pAuction {
			return false
		}
		h.state = feed.StatusAuction
	default:
		if u >= h.pOpen {
			return false
		}
		h.state, h.reason = feed.StatusOpen, ""
	}
	return true
}

// sendStatus hands symbol i's trading state to out's DepthSink, if it has
// one, as its next status message.
func (s *Source) sendStatus(i int, ts int64, out *outlet) {
	if out.depth == nil {
		return
	}
	h := &s.halts[i]
	h.seq++
	out.depth.PublishStatus(feed.Status{
		Symbol: s.syms[i].name,
		Status: h.state,
		Reason: h.reason,
		Seq:    h.seq,
		TS:     ts,
		Epoch:  s.syms[i].epoch,
	})
}
