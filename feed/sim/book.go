package sim

import (
	"math"
	"math/rand/v2"

	"github.com/tickgate/tickgate/feed"
)

// Book model: each symbol keeps up to depth price levels a side, in whole
// cents, around its model price. Before a trade the quote follows the
// price: levels the price has moved through are taken out, and a side
// whose best level is more than maxQuoteGap cents from the price gets a
// new best level one or two cents from it, so every bid is below the
// price and every ask above it. The trade hits the bid or lifts the ask,
// for at most the size resting there; a level it empties is gone. Churn
// resizes, pulls and adds levels away from trades. Sides are refilled at
// their far end, one or two cents apart, to depth levels; a side whose
// levels stand more than maxLevelGap cents apart is cut there first, so
// the levels an old quote left behind as the price moved away are pulled
// rather than kept as a ladder with a hole in it. Sizes are round
// lots, larger away from the touch, drawn as a real book's are: many
// small orders, a few large ones (a log-normal).
const (
	maxQuoteGap  = 2   // cents from the price to the best level before the quote follows
	maxLevelGap  = 5   // cents between two levels of a side, past which follow pulls the rest
	minQuoteAt   = 3   // cents: the lowest price the quote centres on, so a bid of 1 cent fits below
	meanLots     = 8   // median resting size at the touch, in 100-share lots
	lotSpread    = 0.8 // sigma of the log of a resting size
	deeperGrowth = 0.2 // each level further out rests this much more, on average
	churnActions = 3   // a churn changes 1 to this many levels
)

// Snapshot rule: a book message is a snapshot rather than an update when it
// is the symbol's first in this run, or when the symbol's last snapshot is
// snapshotEvery messages or snapshotAge of feed time old. So a receiver
// that joins late (a gateway started after the publisher, on core NATS)
// gets a book within seconds, and a JetStream stream that keeps more than
// snapshotEvery messages per subject always holds one to start from.
const (
	snapshotEvery = 256
	snapshotAge   = 10e9 // ns
)

// level is one price level of the simulated book, in whole cents.
type level struct {
	px int64 // cents
	sz int64 // shares
}

// book is one symbol's simulated order book and the book its receiver was
// last sent. Its slices have room for depth+1 levels, so inserting before
// trimming never allocates.
type book struct {
	bids, asks []level // best first
	sentBids   []level // the book as the last message left the receiver's
	sentAsks   []level
	seq        uint64 // of the last book message
	sent       bool   // a message was sent in this run (the next may be an update)
	sinceSnap  int    // messages since the last snapshot
	snapTS     int64  // ts of the last snapshot
}

func newBook(depth int) *book {
	mk := func() []level { return make([]level, 0, depth+1) }
	return &book{bids: mk(), asks: mk(), sentBids: mk(), sentAsks: mk()}
}

// follow moves the quote to the model price px (in dollars) and refills
// both sides to depth.
func (b *book) follow(px float64, depth int, rng *rand.Rand) {
	c := max(px*100, minQuoteAt)
	for len(b.asks) > 0 && float64(b.asks[0].px) <= c {
		b.asks = removeLevel(b.asks, 0)
	}
	for len(b.bids) > 0 && float64(b.bids[0].px) >= c {
		b.bids = removeLevel(b.bids, 0)
	}
	if len(b.asks) == 0 || float64(b.asks[0].px)-c > maxQuoteGap {
		ask := int64(math.Floor(c)) + 1 + rng.Int64N(2)
		b.asks = insertLevel(b.asks, 0, level{ask, restingSize(0, rng)}, depth)
	}
	if len(b.bids) == 0 || c-float64(b.bids[0].px) > maxQuoteGap {
		bid := int64(math.Ceil(c)) - 1 - rng.Int64N(2)
		b.bids = insertLevel(b.bids, 0, level{bid, restingSize(0, rng)}, depth)
	}
	b.asks, b.bids = cutAtGap(b.asks), cutAtGap(b.bids)
	b.refill(depth, rng)
}

// cutAtGap drops side's levels from the first that stands more than
// maxLevelGap cents from the one before it.
func cutAtGap(side []level) []level {
	for i := 1; i < len(side); i++ {
		if d := side[i].px - side[i-1].px; d > maxLevelGap || d < -maxLevelGap {
			return side[:i]
		}
	}
	return side
}

// trade hits the best bid (buy false) or lifts the best ask for at most
// lot shares and returns the price and size traded. A level it empties
// leaves the book.
func (b *book) trade(buy bool, lot int64) (px, sz int64) {
	side := &b.bids
	if buy {
		side = &b.asks
	}
	l := &(*side)[0]
	px, sz = l.px, min(lot, l.sz)
	if l.sz -= sz; l.sz == 0 {
		*side = removeLevel(*side, 0)
	}
	return px, sz
}

// churn makes 1 to churnActions changes away from trades, each on a level
// of a random side: its size redrawn (orders added or cancelled), the
// level pulled, or a new level in the gap beyond it. It never adds a level
// at or through the touch, so the book stays uncrossed.
func (b *book) churn(depth int, rng *rand.Rand) {
	for range 1 + rng.IntN(churnActions) {
		side, dir := &b.bids, int64(-1)
		if rng.IntN(2) == 1 {
			side, dir = &b.asks, 1
		}
		s := *side
		if len(s) == 0 {
			continue // a trade emptied it (depth 1); the next follow refills it
		}
		i := rng.IntN(len(s))
		switch rng.IntN(4) {
		case 0, 1:
			s[i].sz = restingSize(i, rng)
		case 2:
			if len(s) > 1 {
				*side = removeLevel(s, i)
			}
		case 3:
			if px := s[i].px + dir; px >= 1 && (i+1 == len(s) || px != s[i+1].px) {
				*side = insertLevel(s, i+1, level{px, restingSize(i+1, rng)}, depth)
			}
		}
	}
	b.refill(depth, rng)
}

// restingSize draws the size of a new order resting i levels from the
// touch.
func restingSize(i int, rng *rand.Rand) int64 {
	lots := meanLots * math.Exp(lotSpread*rng.NormFloat64()) * (1 + deeperGrowth*float64(i))
	return 100 * max(1, int64(lots))
}

// insertLevel inserts l at i in side, keeping at most depth levels. side
// has room for depth+1, so this never allocates.
func insertLevel(side []level, i int, l level, depth int) []level {
	side = append(side, level{})
	copy(side[i+1:], side[i:])
	side[i] = l
	return side[:min(len(side), depth)]
}

// removeLevel removes level i of side in place.
func removeLevel(side []level, i int) []level {
	return side[:i+copy(side[i:], side[i+1:])]
}

// refill adds levels at the far end of each side, one or two cents apart,
// until it has depth levels (bids stop at one cent). An empty side stays
// empty: follow gives it a best level first.
func (b *book) refill(depth int, rng *rand.Rand) {
	for len(b.bids) > 0 && len(b.bids) < depth {
		px := b.bids[len(b.bids)-1].px - 1 - rng.Int64N(2)
		if px < 1 {
			break
		}
		b.bids = append(b.bids, level{px, restingSize(len(b.bids), rng)})
	}
	for len(b.asks) > 0 && len(b.asks) < depth {
		b.asks = append(b.asks, level{b.asks[len(b.asks)-1].px + 1 + rng.Int64N(2), restingSize(len(b.asks), rng)})
	}
}

// touchStale reports whether the receiver's book, as last sent, does not
// show the touch a trade would now meet: the best bid or ask price moved,
// or more rests there than it shows. (Less resting there, after earlier
// trades, can wait for the next update: a trade never takes more than
// either shows.)
func (b *book) touchStale() bool {
	if !b.sent {
		return true
	}
	return touchDiffers(b.bids, b.sentBids) || touchDiffers(b.asks, b.sentAsks)
}

// touchDiffers reports whether side's best level has another price than
// sent's, or a larger size.
func touchDiffers(side, sent []level) bool {
	if len(side) == 0 || len(sent) == 0 {
		return len(side) != len(sent)
	}
	return side[0].px != sent[0].px || side[0].sz > sent[0].sz
}

// message fills m with the book's next message for a receiver that
// applied every earlier one, in dollars, reusing m's level slices: a
// snapshot when the rule says so, else the levels that changed (size 0
// for one gone). It reports false, leaving the book's seq as it was, if
// nothing changed. Either way the receiver's book then equals b's.
func (b *book) message(m *feed.Book, ts int64) bool {
	m.Snapshot = !b.sent || b.sinceSnap+1 >= snapshotEvery || ts-b.snapTS >= snapshotAge
	if m.Snapshot {
		m.Bids, m.Asks = appendLevels(m.Bids[:0], b.bids), appendLevels(m.Asks[:0], b.asks)
		b.sinceSnap, b.snapTS = 0, ts
	} else {
		m.Bids = appendChanges(m.Bids[:0], b.sentBids, b.bids, true)
		m.Asks = appendChanges(m.Asks[:0], b.sentAsks, b.asks, false)
		if len(m.Bids) == 0 && len(m.Asks) == 0 {
			return false
		}
		b.sinceSnap++
	}
	b.seq++
	b.sent = true
	m.Seq, m.TS = b.seq, ts
	b.sentBids = append(b.sentBids[:0], b.bids...)
	b.sentAsks = append(b.sentAsks[:0], b.asks...)
	return true
}

// appendLevels appends side's levels in dollars to dst.
func appendLevels(dst []feed.Level, side []level) []feed.Level {
	for _, l := range side {
		dst = append(dst, feed.Level{Price: dollars(l.px), Size: l.sz})
	}
	return dst
}

// appendChanges appends to dst, best first, each level of cur that is new
// or resized since sent, and each level of sent that cur lacks, with size
// 0. Both sides are best first: descending prices for bids, ascending for
// asks.
func appendChanges(dst []feed.Level, sent, cur []level, bids bool) []feed.Level {
	order := int64(1) // prices ascend
	if bids {
		order = -1
	}
	i, j := 0, 0
	for i < len(sent) || j < len(cur) {
		var d int64 // < 0: sent[i] comes first, gone; > 0: cur[j] comes first, new; 0: the same price
		switch {
		case j == len(cur):
			d = -1
		case i == len(sent):
			d = 1
		default:
			d = (sent[i].px - cur[j].px) * order
		}
		switch {
		case d < 0:
			dst = append(dst, feed.Level{Price: dollars(sent[i].px)})
			i++
		case d > 0:
			dst = append(dst, feed.Level{Price: dollars(cur[j].px), Size: cur[j].sz})
			j++
		default:
			if sent[i].sz != cur[j].sz {
				dst = append(dst, feed.Level{Price: dollars(cur[j].px), Size: cur[j].sz})
			}
			i, j = i+1, j+1
		}
	}
	return dst
}
