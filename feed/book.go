package feed

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"sync"
)

// Level is one price level of a book side: a price and the size resting
// at it. In an update, Size 0 removes the level.
type Level struct {
	Price float64
	Size  int64
}

// MarshalJSON writes the level as a [price, size] pair.
func (l Level) MarshalJSON() ([]byte, error) { return l.appendJSON(nil), nil }

// UnmarshalJSON reads a [price, size] pair.
func (l *Level) UnmarshalJSON(b []byte) error {
	var pair [2]json.Number
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	px, err := pair[0].Float64()
	if err != nil {
		return err
	}
	sz, err := pair[1].Int64()
	if err != nil {
		return err
	}
	*l = Level{Price: px, Size: sz}
	return nil
}

func (l Level) appendJSON(dst []byte) []byte {
	dst = append(dst, '[')
	dst = appendPrice(dst, l.Price)
	dst = append(dst, ',')
	dst = strconv.AppendInt(dst, l.Size, 10)
	return append(dst, ']')
}

// appendPrice writes px as its shortest round-trip decimal, never with an
// exponent: the form the book checksum is computed over, which is also
// JavaScript's String(px) for any price between 1e-6 and 1e21.
func appendPrice(dst []byte, px float64) []byte {
	return strconv.AppendFloat(dst, px, 'f', -1, 64)
}

// Book is one order-book message for one symbol: a snapshot of its top
// levels (Snapshot), which replaces whatever book the receiver had, or an
// update carrying only the levels that changed, where Size 0 removes a
// level. Bids are best (highest price) first, asks best (lowest) first.
//
// Seq numbers the symbol's book messages on their own, apart from its
// ticks: it starts at 1 and grows by 1 per message, snapshots included,
// so a receiver sees a gap. Epoch is the run the seqs belong to, as for
// Tick; a publisher gives a symbol's ticks, books and status one epoch.
type Book struct {
	Symbol   string
	Seq      uint64
	TS       int64
	Epoch    string
	Snapshot bool
	Bids     []Level
	Asks     []Level
}

// Book message types on the wire.
const (
	BookSnapshotType = "book"
	BookUpdateType   = "book_update"
)

// ChecksumDepth is how many levels of each side the book checksum covers.
const ChecksumDepth = 10

// Checksum is the CRC-32 (IEEE, as zlib's crc32) of the book's checksum
// string: its best ChecksumDepth bids, best first, then a '|', then its
// best ChecksumDepth asks, best first; each level written as price ':'
// size, the price as its shortest round-trip decimal without exponent
// (JavaScript's String(price)), levels of a side separated by ','. An
// empty side is written as nothing. For bids 189.3×200, 189.29×500 and
// asks 189.32×100 the string is "189.3:200,189.29:500|189.32:100".
// A receiver that applies every message computes the same value from its
// own copy after each one, which proves the copy right.
func Checksum(bids, asks []Level) uint32 {
	bp := checksumBufs.Get().(*[]byte)
	*bp = AppendChecksumString((*bp)[:0], bids, asks)
	sum := crc32.ChecksumIEEE(*bp)
	checksumBufs.Put(bp)
	return sum
}

// checksumBufs holds Checksum's scratch strings: crc32 makes a buffer it
// is given escape, and the engine computes a checksum per book message.
var checksumBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 2*ChecksumDepth*32)
	return &b
}}

// AppendChecksumString appends the string Checksum hashes to dst.
func AppendChecksumString(dst []byte, bids, asks []Level) []byte {
	dst = appendChecksumSide(dst, bids)
	dst = append(dst, '|')
	return appendChecksumSide(dst, asks)
}

func appendChecksumSide(dst []byte, side []Level) []byte {
	for i, l := range side[:min(len(side), ChecksumDepth)] {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendPrice(dst, l.Price)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, l.Size, 10)
	}
	return dst
}

// AppendJSON appends the book's client wire form with its checksum,
//
//	{"type":"book","sym":"AAPL","seq":12,"checksum":3158812640,"bids":[[189.3,200]],"asks":[[189.32,100]],"ts":1732470000123456789}
//
// ("book_update" for an update) to dst. checksum is that of the book the
// message leaves the receiver with, not of b's own levels. It allocates
// only when dst must grow.
func (b *Book) AppendJSON(dst []byte, checksum uint32) []byte {
	return append(b.appendJSON(dst, checksum, true), '}')
}

// AppendUpstreamJSON appends the book's form between a publisher and the
// gateways: the wire form without a checksum (each gateway computes its
// own from the book it keeps) and with the epoch, when not "".
func (b *Book) AppendUpstreamJSON(dst []byte) []byte {
	return appendEpoch(b.appendJSON(dst, 0, false), b.Epoch)
}

// appendJSON appends the wire form less its closing brace.
func (b *Book) appendJSON(dst []byte, checksum uint32, withChecksum bool) []byte {
	dst = append(dst, `{"type":"`...)
	if b.Snapshot {
		dst = append(dst, BookSnapshotType...)
	} else {
		dst = append(dst, BookUpdateType...)
	}
	dst = append(dst, `","sym":`...)
	dst = appendSymbol(dst, b.Symbol)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, b.Seq, 10)
	if withChecksum {
		dst = append(dst, `,"checksum":`...)
		dst = strconv.AppendUint(dst, uint64(checksum), 10)
	}
	dst = appendSide(append(dst, `,"bids":`...), b.Bids)
	dst = appendSide(append(dst, `,"asks":`...), b.Asks)
	dst = append(dst, `,"ts":`...)
	return strconv.AppendInt(dst, b.TS, 10)
}

func appendSide(dst []byte, side []Level) []byte {
	dst = append(dst, '[')
	for i, l := range side {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = l.appendJSON(dst)
	}
	return append(dst, ']')
}

// appendEpoch adds "epoch" before the closing brace of the object ending
// dst, unless epoch is "".
func appendEpoch(dst []byte, epoch string) []byte {
	if epoch == "" {
		return append(dst, '}')
	}
	dst = append(dst, `,"epoch":"`...)
	dst = append(dst, epoch...)
	return append(dst, `"}`...)
}

// ErrBadBook reports a book payload that cannot be used.
var ErrBadBook = errors.New("feed: bad book")

// DecodeBook parses a book message in its wire or upstream form ("type"
// "book" or "book_update"; a checksum, if present, is ignored) and checks
// it (Validate).
func DecodeBook(p []byte) (Book, error) {
	var w struct {
		Type  string  `json:"type"`
		Sym   string  `json:"sym"`
		Seq   uint64  `json:"seq"`
		TS    int64   `json:"ts"`
		Epoch string  `json:"epoch"`
		Bids  []Level `json:"bids"`
		Asks  []Level `json:"asks"`
	}
	if err := json.Unmarshal(p, &w); err != nil {
		return Book{}, fmt.Errorf("%w: %w", ErrBadBook, err)
	}
	if w.Type != BookSnapshotType && w.Type != BookUpdateType {
		return Book{}, fmt.Errorf("%w: type %q", ErrBadBook, w.Type)
	}
	b := Book{Symbol: w.Sym, Seq: w.Seq, TS: w.TS, Epoch: w.Epoch, Snapshot: w.Type == BookSnapshotType, Bids: w.Bids, Asks: w.Asks}
	return b, b.Validate()
}

// Validate reports why b cannot be applied on its own terms, or nil: a
// bad symbol, seq or epoch, a missing ts, a price that is not positive and
// finite, a negative size, a level listed twice, a side out of order, a
// snapshot with a removal in it or a crossed snapshot. What needs the
// receiver's book to judge (an update that crosses the book, or lands
// beyond the depth kept) is the receiver's to check. The error wraps
// ErrBadBook and says its Reason (ReasonOf).
func (b *Book) Validate() error {
	if err := validHeader(ErrBadBook, b.Symbol, b.Seq, b.TS, b.Epoch); err != nil {
		return err
	}
	for side, levels := range [2][]Level{b.Bids, b.Asks} {
		better := func(x, y float64) bool { return x > y } // bids: higher is better
		if side == 1 {
			better = func(x, y float64) bool { return x < y }
		}
		for i, l := range levels {
			switch {
			case !(l.Price > 0) || l.Price > 1e12 || math.IsInf(l.Price, 0):
				return refuse(ErrBadBook, errField, "%s: price %v must be positive and finite", b.Symbol, l.Price)
			case l.Size < 0:
				return refuse(ErrBadBook, errNegativeSize, "%s: at %v", b.Symbol, l.Price)
			case l.Size == 0 && b.Snapshot:
				return refuse(ErrBadBook, errLevels, "%s: a snapshot level at %v has size 0", b.Symbol, l.Price)
			case i > 0 && !better(levels[i-1].Price, l.Price):
				return refuse(ErrBadBook, errLevels, "%s: out of order or repeated at %v", b.Symbol, l.Price)
			}
		}
	}
	if b.Snapshot && len(b.Bids) > 0 && len(b.Asks) > 0 && b.Bids[0].Price >= b.Asks[0].Price {
		return refuse(ErrBadBook, errCrossed, "%s: bid %v >= ask %v", b.Symbol, b.Bids[0].Price, b.Asks[0].Price)
	}
	return nil
}
