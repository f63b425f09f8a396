package subscribe

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/booktest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// putBooks publishes books and waits until the engine has taken them all
// (tickgate_feed_books_total counts what the shards delivered).
func (e *testEnv) putBooks(books ...feed.Book) {
	e.t.Helper()
	e.mu.Lock()
	for _, b := range books {
		e.books++
		e.engine.PublishBook(b)
	}
	want := float64(e.books)
	e.mu.Unlock()
	checkFor(e.t, 5*time.Second, func() error {
		if got := gathered(e.t, e.reg, "tickgate_feed_books_total"); got < want {
			return fmt.Errorf("engine has taken %v books of %v", got, want)
		}
		return nil
	})
}

// bookReader applies every book message c receives for sym to a client's
// copy, checking seqs and checksums, until the copy reaches seq.
func readBook(tb testing.TB, c *wstest.Client, b *booktest.Book, sym string, seq uint64) {
	tb.Helper()
	for b.Seq < seq || !b.Valid {
		m := c.Next()
		if m.Sym != sym || m.Type == "subscribed" {
			continue
		}
		if err := b.Apply(m); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestBookOverSocket: a book subscriber from before the first book gets
// the feed's snapshot, then every update, each with the checksum of the
// book after it; one that subscribes later gets the book as a snapshot
// first. Both copies end equal to the feed's book.
func TestBookOverSocket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	early := e.dial("")
	early.Send(`{"op":"subscribe","id":1,"stream":"book","symbols":["AAPL"]}`)
	if r := expectReply(early, "subscribed", 1); r.Stream != "book" {
		t.Fatalf("reply %s", r.Raw)
	}
	g := booktest.NewGen("AAPL", 10, 1)
	books := []feed.Book{g.Snapshot()}
	for range 50 {
		books = append(books, g.Update())
	}
	e.putBooks(books...)
	var a booktest.Book
	readBook(t, early, &a, "AAPL", g.Seq)
	if !a.Equal(g.Bids, g.Asks) || a.Applied != 51 {
		t.Fatalf("early copy after %d messages: %v | %v, want %v | %v", a.Applied, a.Bids, a.Asks, g.Bids, g.Asks)
	}

	late := e.dial("")
	late.Send(`{"op":"subscribe","id":2,"stream":"book","symbols":["AAPL"]}`)
	expectReply(late, "subscribed", 2)
	snap := late.Next()
	if snap.Type != "book" || snap.Seq != g.Seq {
		t.Fatalf("late subscriber's first message %s, want the book at seq %d", snap.Raw, g.Seq)
	}
	var b booktest.Book
	if err := b.Apply(snap); err != nil {
		t.Fatal(err)
	}
	more := []feed.Book{g.Update(), g.Update()}
	e.putBooks(more...)
	readBook(t, late, &b, "AAPL", g.Seq)
	readBook(t, early, &a, "AAPL", g.Seq)
	if !a.Equal(g.Bids, g.Asks) || !b.Equal(g.Bids, g.Asks) {
		t.Fatalf("copies %v | %v and %v | %v, want %v | %v", a.Bids, a.Asks, b.Bids, b.Asks, g.Bids, g.Asks)
	}
}
