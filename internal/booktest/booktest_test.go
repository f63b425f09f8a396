package booktest

import (
	"strings"
	"testing"

	"github.com/tickgate/tickgate/feed"
)

// TestReceiverCatches feeds a receiver one broken promise at a time, after
// a good start, and checks it names it: the checks other tests rely on can
// fail.
func TestReceiverCatches(t *testing.T) {
	t.Parallel()
	snap := feed.Book{Symbol: "AAPL", Seq: 1, TS: 1, Snapshot: true, Bids: []feed.Level{{Price: 100, Size: 5}, {Price: 99, Size: 5}}, Asks: []feed.Level{{Price: 101, Size: 5}}}
	open := feed.Status{Symbol: "AAPL", Status: feed.StatusOpen, Seq: 1, TS: 1}
	tick := feed.Tick{Symbol: "AAPL", Seq: 1, Price: 101, Size: 5, Bid: 100, Ask: 101, TS: 1}
	upd := func(seq uint64, bids, asks []feed.Level) feed.Book {
		return feed.Book{Symbol: "AAPL", Seq: seq, TS: 1, Bids: bids, Asks: asks}
	}
	for _, c := range []struct {
		name, want string
		feed       func(r *Receiver)
	}{
		{"fine", "", func(r *Receiver) {
			r.PublishBook(upd(2, []feed.Level{{Price: 99, Size: 0}}, []feed.Level{{Price: 102, Size: 3}}))
			r.Publish(tick)
		}},
		{"update first", "before any snapshot", func(r *Receiver) {
			r.Books = map[string]*Book{}
			r.PublishBook(upd(2, nil, nil))
		}},
		{"seq gap", "seq 3 after 1", func(r *Receiver) { r.PublishBook(upd(3, nil, nil)) }},
		{"absent level", "removes 98", func(r *Receiver) { r.PublishBook(upd(2, []feed.Level{{Price: 98, Size: 0}}, nil)) }},
		{"crossed", "crossed", func(r *Receiver) {
			r.PublishBook(upd(2, []feed.Level{{Price: 101.5, Size: 1}, {Price: 99, Size: 0}}, nil))
		}},
		{"past depth", "past depth 2", func(r *Receiver) { r.PublishBook(upd(2, []feed.Level{{Price: 98, Size: 1}}, nil)) }},
		{"off the touch", "not the book's best", func(r *Receiver) {
			bad := tick
			bad.Bid = 99
			r.Publish(bad)
		}},
		{"more than rests", "more than rests", func(r *Receiver) {
			bad := tick
			bad.Size = 6
			r.Publish(bad)
		}},
		{"trade while halted", "while halted", func(r *Receiver) {
			r.PublishStatus(feed.Status{Symbol: "AAPL", Status: feed.StatusHalted, Reason: "LUDP", Seq: 2, TS: 1})
			r.Publish(tick)
		}},
		{"skipped state", "open after halted", func(r *Receiver) {
			r.PublishStatus(feed.Status{Symbol: "AAPL", Status: feed.StatusHalted, Reason: "T1", Seq: 2, TS: 1})
			r.PublishStatus(feed.Status{Symbol: "AAPL", Status: feed.StatusOpen, Seq: 3, TS: 1})
		}},
	} {
		r := NewReceiver(2)
		r.PublishStatus(open)
		r.PublishBook(snap)
		c.feed(r)
		switch {
		case c.want == "" && r.Err != nil:
			t.Errorf("%s: %v, want none", c.name, r.Err)
		case c.want != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), c.want)):
			t.Errorf("%s: %v, want an error saying %q", c.name, r.Err, c.want)
		}
	}
}
