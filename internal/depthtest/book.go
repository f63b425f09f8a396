package depthtest

import (
	"fmt"
	"slices"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/booktest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// Book is a client's copy of one symbol's book, kept as docs/protocol.md
// tells a client to: a "book" snapshot replaces it; a "book_update"
// follows on from the last seq (seq less n) and changes the levels it
// names, size 0 removing one; a gap or reset notice leaves it waiting for
// the next snapshot. After each message it checks the checksum against
// its own levels, and that no update removes a level it lacks
// (booktest.ApplySide). Applied counts the messages applied.
type Book struct {
	Bids, Asks []feed.Level
	Seq        uint64
	Valid      bool // a snapshot came, and no gap or reset since
	Applied    int
}

// Apply applies one message of the book stream of the Book's symbol: a
// book, a book update, or a gap or reset notice. It reports an update
// that does not follow on, one with no snapshot before it, or a checksum
// that is not the book's.
func (b *Book) Apply(m wstest.Msg) error {
	switch {
	case m.Type == "notice" && (m.Code == "gap" || m.Code == "reset"):
		b.Valid = false
		if m.Code == "reset" {
			b.Seq = 0
		}
		return nil
	case m.Type == feed.BookSnapshotType:
		b.Bids, b.Asks = slices.Clone(m.Bids), slices.Clone(m.Asks)
	case m.Type == feed.BookUpdateType:
		n := max(m.N, 1)
		switch {
		case !b.Valid:
			return fmt.Errorf("%s seq %d: an update with no snapshot since the last gap or reset", m.Sym, m.Seq)
		case m.Seq <= b.Seq:
			return fmt.Errorf("%s seq %d: not after %d", m.Sym, m.Seq, b.Seq)
		case m.Seq-n != b.Seq:
			return fmt.Errorf("%s seq %d n %d: does not follow on from %d", m.Sym, m.Seq, n, b.Seq)
		}
		var err error
		if b.Bids, err = booktest.ApplySide(b.Bids, m.Bids, true); err == nil {
			b.Asks, err = booktest.ApplySide(b.Asks, m.Asks, false)
		}
		if err != nil {
			return fmt.Errorf("%s seq %d: %w", m.Sym, m.Seq, err)
		}
	default:
		return fmt.Errorf("%s: not a book message: %s", m.Sym, m.Raw)
	}
	b.Seq, b.Valid = m.Seq, true
	b.Applied++
	if sum := feed.Checksum(b.Bids, b.Asks); sum != m.Checksum {
		return fmt.Errorf("%s seq %d: checksum %d, the copy's is %d (%s)", m.Sym, m.Seq, m.Checksum, sum, feed.AppendChecksumString(nil, b.Bids, b.Asks))
	}
	return nil
}

// Equal reports whether the copy holds exactly bids and asks.
func (b *Book) Equal(bids, asks []feed.Level) bool {
	return slices.Equal(b.Bids, bids) && slices.Equal(b.Asks, asks)
}
