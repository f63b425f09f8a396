package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/depthtest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestFleetUniverseBooks: over NATS, a symbol's first status or book
// message lists it on every gateway, as a tick does, with its book and
// status from then on; a delisting retires them with it: their
// subscribers get the retired notice naming the stream, and what the
// book kept goes back to the memory budget.
func TestFleetUniverseBooks(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.Options(-1))
	gws := startFleet(t, 2, universeGateway(ns.ClientURL()))
	pub := testPublisher(t, ns.ClientURL())
	g := depthtest.NewGen("IPO", 10, 1)
	pub.PublishStatus(feed.Status{Symbol: "IPO", Status: feed.StatusOpen, Seq: 1, TS: depthtest.BaseTS})
	pub.PublishBook(g.Snapshot())
	for range 5 {
		pub.PublishBook(g.Update())
	}
	flush(t, pub)
	waitSymbols(t, []string{"IPO"}, gws...)

	var clients []*wstest.Client
	for i, tg := range gws {
		// The table lists IPO at its first message off NATS, a moment
		// before its shard has taken the rest: until then the snapshot is
		// an earlier one, so connect again until it is the last.
		var c *wstest.Client
		poll.Until(t, 10*time.Second, func() error {
			c = connect(t, tg, "")
			c.Send(`{"op":"subscribe","id":1,"stream":"book","symbols":["IPO"]}`)
			subscribed(c, "IPO")
			if m := c.Next(); m.Type != "book" || m.Seq != g.Seq {
				c.Conn.CloseNow()
				return fmt.Errorf("gateway %d: got %s, want IPO's book snapshot at seq %d", i, m.Raw, g.Seq)
			}
			return nil
		})
		c.Send(`{"op":"subscribe","id":2,"stream":"status","symbols":["IPO"]}`)
		subscribed(c, "IPO")
		if m := c.Next(); m.Type != "status" || m.Status != feed.StatusOpen {
			t.Fatalf("gateway %d: got %s, want IPO's status", i, m.Raw)
		}
		if kept := metric(t, tg, "tickgate_memory_kept_bytes", "kind", "books"); kept == 0 {
			t.Fatalf("gateway %d keeps no book history for IPO's %d updates", i, g.Seq-1)
		}
		clients = append(clients, c)
	}

	pub.List(feed.Listing{Symbol: "IPO", Delisted: true})
	flush(t, pub)
	for i, c := range clients {
		nextRetired(c, "IPO", "book", "delisted")
		nextRetired(c, "IPO", "status", "delisted")
		poll.Until(t, 10*time.Second, func() error {
			if kept := metric(t, gws[i], "tickgate_memory_kept_bytes", "kind", "books"); kept != 0 {
				return fmt.Errorf("gateway %d keeps %v bytes of books with none listed", i, kept)
			}
			return nil
		})
	}
	waitSymbols(t, []string{}, gws...)
}
