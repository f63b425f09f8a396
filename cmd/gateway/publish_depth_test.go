package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/internal/booktest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/runtest"
)

// lockedReceiver is a booktest.Receiver a source feeds while the test
// reads it.
type lockedReceiver struct {
	mu sync.Mutex
	r  *booktest.Receiver
}

func (l *lockedReceiver) List(ls feed.Listing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.List(ls)
}

func (l *lockedReceiver) Publish(t feed.Tick) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.Publish(t)
}

func (l *lockedReceiver) PublishBook(m feed.Book) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.PublishBook(m)
}

func (l *lockedReceiver) PublishStatus(st feed.Status) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.r.PublishStatus(st)
}

// check calls f with the receiver under the lock.
func (l *lockedReceiver) check(f func(r *booktest.Receiver) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return f(l.r)
}

// receive runs a NATS source over urls (with the stream of cfg, if any)
// into a fresh receiver until the test ends, once it is ready.
func receive(t *testing.T, cfg map[string]string, syms []string) *lockedReceiver {
	t.Helper()
	c := testConfig(t, cfg)
	src, err := feednats.New(feednats.Config{URLs: c.Feed.NATS.URLs, Symbols: syms, Stream: c.Feed.NATS.Stream, ReconnectWait: 20 * time.Millisecond},
		prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rec := &lockedReceiver{r: booktest.NewReceiver(c.Book.Depth)}
	runtest.Start(t, "source", func(ctx context.Context) error { return src.Run(ctx, rec) })
	poll.Until(t, 10*time.Second, func() error {
		if !src.Ready() {
			return errors.New("source not ready")
		}
		return nil
	})
	return rec
}

// TestPublishBooksThroughNATS runs gateway publish (the simulator with
// books and frequent halts) into NATS, and a NATS source into a receiver
// that applies every book message and checks every promise of a feed
// (booktest.Receiver): over the real wire, ticks, books and status arrive
// in an order where every trade is at the touch of the book received,
// books are never crossed nor past book.depth, and nothing trades while
// halted, through halts and reopenings.
func TestPublishBooksThroughNATS(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.Options(-1))
	syms := []string{"AAPL", "BRK.B", "MSFT"}
	cfg := natsGateway(ns.ClientURL())
	cfg["feed.sim.symbols"] = yamlList(syms...)
	cfg["feed.sim.halts_per_hour"] = "3600"
	cfg["feed.sim.halt_duration"] = "300ms"
	cfg["book.depth"] = "7"
	rec := receive(t, cfg, syms)
	startPublish(t, cfg)
	poll.Until(t, 20*time.Second, func() error {
		return rec.check(func(r *booktest.Receiver) error {
			if r.Err != nil {
				return nil // reported below
			}
			reopened := 0
			for _, st := range r.Status {
				if st.Status == feed.StatusOpen && st.Seq > 1 {
					reopened++
				}
			}
			if r.N.Halts == 0 || reopened == 0 || r.N.Ticks < 1000 {
				return fmt.Errorf("received %+v, %d reopened; want a halt, a reopening and 1000 ticks", r.N, reopened)
			}
			return nil
		})
	})
	if err := rec.check(func(r *booktest.Receiver) error { return r.Err }); err != nil {
		t.Fatal(err)
	}
}

// TestPublishCarriesBookSeqsOn restarts gateway publish on a JetStream
// stream: a symbol carries its book and status seqs on in its epoch, as
// its ticks, with a snapshot and an open status first, so a gateway
// reading the stream sees no reset and can build the book at once.
func TestPublishCarriesBookSeqsOn(t *testing.T) {
	t.Parallel()
	// A symbol carries on only from a tick of its own (one that has sent a
	// book and no tick yet starts afresh), so stop once both are in.
	_, cfg, st := publishedOnce(t, "ticks.book.AAPL", "ticks.AAPL")
	book, err := feed.DecodeBook(lastData(t, st, "ticks.book.AAPL"))
	if err != nil {
		t.Fatal(err)
	}
	status, err := feed.DecodeStatus(lastData(t, st, "ticks.status.AAPL"))
	if err != nil || status.Epoch != book.Epoch {
		t.Fatalf("last status %+v, %v; want one of the book's epoch %q", status, err, book.Epoch)
	}

	rec := receive(t, cfg, []string{"AAPL"}) // replays the stream, then follows the restarted publisher
	startPublish(t, cfg)
	poll.Until(t, 10*time.Second, func() error {
		return rec.check(func(r *booktest.Receiver) error {
			if b := r.Books["AAPL"]; r.Err != nil || b == nil || b.Seq <= book.Seq+10 {
				return fmt.Errorf("receiver at %+v, want book seqs past %d", r.N, book.Seq+10)
			}
			return nil
		})
	})
	if err := rec.check(func(r *booktest.Receiver) error {
		if r.Err != nil {
			return r.Err // a seq that did not run on by one, within the epoch
		}
		if b, st := r.Books["AAPL"], r.Status["AAPL"]; b.Epoch != book.Epoch || st.Epoch != book.Epoch || st.Seq <= status.Seq {
			return fmt.Errorf("after the restart: book of %q, status %+v; want both in %q, the status past seq %d", b.Epoch, st, book.Epoch, status.Seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
