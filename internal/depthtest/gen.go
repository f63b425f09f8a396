package depthtest

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tickgate/tickgate/feed"
)

// BaseTS is the feed time (Unix ns) of book seq 0: message seq s carries
// BaseTS+s.
const BaseTS = int64(1732470000000000000)

// Gen makes one symbol's random valid book messages, numbered from 1 in
// Epoch, and keeps the book they build (Bids, Asks) as the truth a
// client's copy must match.
type Gen struct {
	Symbol, Epoch string
	Depth         int // levels a side at most
	Seq           uint64
	Bids, Asks    []feed.Level
	rng           *rand.Rand
}

// NewGen returns a Gen of sym's book of depth levels a side, seeded.
func NewGen(sym string, depth int, seed uint64) *Gen {
	return &Gen{Symbol: sym, Depth: depth, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// tick is the price grid: a cent.
const tick = 0.01

// price is the price k cents above zero, rounded to a cent.
func price(k int) float64 { return math.Round(float64(k)) / 100 }

func cents(px float64) int { return int(math.Round(px / tick)) }

// Snapshot returns a fresh snapshot: a full book a side around 100.00.
func (g *Gen) Snapshot() feed.Book {
	mid := 10000 + g.rng.IntN(200)
	g.Bids, g.Asks = g.Bids[:0], g.Asks[:0]
	for i := range g.Depth {
		g.Bids = append(g.Bids, feed.Level{Price: price(mid - 1 - i), Size: g.size()})
		g.Asks = append(g.Asks, feed.Level{Price: price(mid + 1 + i), Size: g.size()})
	}
	return g.next(true, slices.Clone(g.Bids), slices.Clone(g.Asks))
}

func (g *Gen) size() int64 { return int64(1+g.rng.IntN(20)) * 100 }

// Update returns an update of one to four changes: a level's size, a
// level removed, or a level added (the side's worst removed first when
// it is full), never crossing the book.
func (g *Gen) Update() feed.Book {
	changes := [2]map[int]int64{{}, {}}
	for range 1 + g.rng.IntN(4) {
		side := g.rng.IntN(2)
		g.change(side, changes[side])
	}
	return g.next(false, sorted(changes[0], true), sorted(changes[1], false))
}

// change makes one random change to side (0 bids, 1 asks), applied to
// the Gen's book and noted in ch by price in cents.
func (g *Gen) change(side int, ch map[int]int64) {
	levels := &g.Bids
	if side == 1 {
		levels = &g.Asks
	}
	switch r := g.rng.IntN(3); {
	case r == 0 && len(*levels) > 0: // a size
		i := g.rng.IntN(len(*levels))
		(*levels)[i].Size = g.size()
		ch[cents((*levels)[i].Price)] = (*levels)[i].Size
	case r == 1 && len(*levels) > 1: // a removal
		i := g.rng.IntN(len(*levels))
		ch[cents((*levels)[i].Price)] = 0
		*levels = slices.Delete(*levels, i, i+1)
	default: // an addition
		px, ok := g.freePrice(side)
		if !ok {
			return
		}
		if len(*levels) == g.Depth {
			worst := len(*levels) - 1
			if better(side, px, (*levels)[worst].Price) {
				ch[cents((*levels)[worst].Price)] = 0
				*levels = (*levels)[:worst]
			} else {
				return
			}
		}
		l := feed.Level{Price: px, Size: g.size()}
		ch[cents(px)] = l.Size
		i, _ := slices.BinarySearchFunc(*levels, px, func(a feed.Level, px float64) int {
			if better(side, a.Price, px) {
				return -1
			}
			return 1
		})
		*levels = slices.Insert(*levels, i, l)
	}
}

// freePrice picks a price for a new level on side, near its best and
// never crossing the other side, not already in the book.
func (g *Gen) freePrice(side int) (float64, bool) {
	for range 8 {
		var k int
		if side == 0 {
			limit := 20000
			if len(g.Asks) > 0 {
				limit = cents(g.Asks[0].Price) - 1
			}
			k = limit - g.rng.IntN(g.Depth+4)
		} else {
			limit := 1
			if len(g.Bids) > 0 {
				limit = cents(g.Bids[0].Price) + 1
			}
			k = limit + g.rng.IntN(g.Depth+4)
		}
		px := price(k)
		at := func(l feed.Level) bool { return l.Price == px }
		if k > 0 && !slices.ContainsFunc(g.Bids, at) && !slices.ContainsFunc(g.Asks, at) {
			return px, true
		}
	}
	return 0, false
}

func better(side int, x, y float64) bool {
	if side == 0 {
		return x > y
	}
	return x < y
}

// sorted is the changes ch as levels, best first.
func sorted(ch map[int]int64, bid bool) []feed.Level {
	out := make([]feed.Level, 0, len(ch))
	for k, sz := range ch {
		out = append(out, feed.Level{Price: price(k), Size: sz})
	}
	slices.SortFunc(out, func(a, b feed.Level) int {
		if bid {
			return cmp.Compare(b.Price, a.Price)
		}
		return cmp.Compare(a.Price, b.Price)
	})
	return out
}

func (g *Gen) next(snapshot bool, bids, asks []feed.Level) feed.Book {
	g.Seq++
	return feed.Book{Symbol: g.Symbol, Seq: g.Seq, TS: BaseTS + int64(g.Seq), Epoch: g.Epoch, Snapshot: snapshot, Bids: bids, Asks: asks}
}

// Checksum is the checksum of the Gen's book.
func (g *Gen) Checksum() uint32 { return feed.Checksum(g.Bids, g.Asks) }
