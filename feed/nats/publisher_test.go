package nats

import (
	"context"
	"errors"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/ticktest"
)

// TestUpstreamForm checks the bytes on NATS, a tick with its epoch and a
// heartbeat with the run's, and that a Source hands the epoch on.
func TestUpstreamForm(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	raw := subscribeSync(t, s.ClientURL(), "ticks.>")
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}})
	sink := &collector{}
	f.run(t, sink)
	f.waitReady(t)
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Epoch: "run-1"})
	tk := ticktest.Tick("AAPL", 42)
	tk.Epoch = "k3x9f0a1b2c4"
	pub.Publish(tk)
	pub.Heartbeat()
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	m := next(t, raw)
	if want := string(tk.AppendJSON(nil)); string(m.Data) != strings.TrimSuffix(want, "}")+`,"epoch":"k3x9f0a1b2c4"}` {
		t.Fatalf("tick on NATS = %s, want the wire form %s with the epoch", m.Data, want)
	}
	if m = next(t, raw); m.Subject != "ticks._hb" || !regexp.MustCompile(`^\{"type":"heartbeat","ts":\d+,"epoch":"run-1"\}$`).Match(m.Data) {
		t.Fatalf("heartbeat %s on %s, want one carrying epoch run-1", m.Data, m.Subject)
	}
	if got := sink.waitTicks(t, 1); got[0] != tk {
		t.Fatalf("source got %+v, want %+v", got[0], tk)
	}
}

// next returns the next message of sub.
func next(tb testing.TB, sub *natsgo.Subscription) *natsgo.Msg {
	tb.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestSourceRejectsBadEpoch counts a tick with an unusable epoch as a
// decode error, and takes one without an epoch as DefaultEpoch's ("").
func TestSourceRejectsBadEpoch(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}})
	sink := &collector{}
	f.run(t, sink)
	f.waitReady(t)
	nc := connect(t, s.ClientURL())
	one, two := ticktest.Tick("AAPL", 1), ticktest.Tick("AAPL", 2)
	bad := strings.TrimSuffix(string(one.AppendJSON(nil)), "}") + `,"epoch":"no spaces"}`
	for _, b := range []string{bad, string(two.AppendJSON(nil))} {
		if err := nc.Publish("ticks.AAPL", []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
	if got := sink.waitTicks(t, 1); got[0] != ticktest.Tick("AAPL", 2) {
		t.Fatalf("got %+v, want the epoch-less tick 2 only", got)
	}
	if n := metric(t, f.reg, feed.DecodeErrorsMetric); n != 1 {
		t.Fatalf("%v decode errors, want 1 (the bad epoch)", n)
	}
}

// TestPublisherMetrics checks the counters of a JetStream publisher, every
// tick acked, and its epoch.
func TestPublisherMetrics(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	reg := prometheus.NewRegistry()
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS", Epoch: "run-1", Metrics: reg})
	publishSeqs(t, pub, []string{"AAPL", "MSFT"}, 1, 50)
	want := `
# HELP tickgate_publish_ack_failures_total Feed messages published to the stream that it did not acknowledge as stored: refused, no stream for the subject, or no ack before the connection was lost.
# TYPE tickgate_publish_ack_failures_total counter
tickgate_publish_ack_failures_total 0
# HELP tickgate_publish_acks_pending Feed messages published to the stream whose ack has not come yet (at most publish.ack_window).
# TYPE tickgate_publish_acks_pending gauge
tickgate_publish_acks_pending 0
# HELP tickgate_publish_dropped_total Feed messages dropped because the NATS connection was down; gateways see them as a seq gap.
# TYPE tickgate_publish_dropped_total counter
tickgate_publish_dropped_total 0
# HELP tickgate_publish_epoch_info 1, labelled with the epoch of this publisher run: a change means gateways reset the symbols that did not carry on from the stream.
# TYPE tickgate_publish_epoch_info gauge
tickgate_publish_epoch_info{epoch="run-1"} 1
# HELP tickgate_publish_published_total Feed messages (ticks, book messages, status) handed to NATS.
# TYPE tickgate_publish_published_total counter
tickgate_publish_published_total 100
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"tickgate_publish_ack_failures_total", "tickgate_publish_acks_pending", "tickgate_publish_dropped_total",
		"tickgate_publish_epoch_info", "tickgate_publish_published_total"); err != nil {
		t.Fatal(err)
	}
	if got := pub.acks.acked.Load(); got != 100 {
		t.Fatalf("%d acks, want 100", got)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

// TestAckFailures deletes the stream under a running publisher: every
// tick then finds no stream, and is counted as not stored.
func TestAckFailures(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS"})
	publishSeqs(t, pub, []string{"AAPL"}, 1, 3)
	js, err := jetstream.New(connect(t, s.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(context.Background(), "TICKS"); err != nil {
		t.Fatal(err)
	}
	publishSeqs(t, pub, []string{"AAPL"}, 4, 8)
	if got := pub.AckFailures(); got != 5 {
		t.Fatalf("AckFailures = %d, want 5 (the ticks after the stream went)", got)
	}
}

// TestAckWindow holds acks back (a subscriber takes the ticks and never
// answers): the window fills, Publish waits for room, and at the timeout
// the ticks in flight count as failed and a new round starts.
func TestAckWindow(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	subscribeSync(t, s.ClientURL(), "ticks.>") // takes the ticks and never acks
	pub := NewPublisher(connect(t, s.ClientURL()), "")
	a, err := newAcker(pub.nc, 2, pub.ackFailed)
	if err != nil {
		t.Fatal(err)
	}
	a.timeout = 100 * time.Millisecond
	pub.acks = a
	pub.shown.Store(a)
	start := time.Now()
	for seq := uint64(1); seq <= 3; seq++ {
		pub.Publish(ticktest.Tick("AAPL", seq))
	}
	if took := time.Since(start); took < a.timeout {
		t.Fatalf("3 ticks into a window of 2 took %v, want a wait of %v for room", took, a.timeout)
	}
	if pub.AckFailures() != 2 || a.pending() != 1 || pub.Published() != 3 {
		t.Fatalf("ack failures %d, pending %d, published %d; want 2, 1, 3", pub.AckFailures(), a.pending(), pub.Published())
	}
}

// TestPublisherAcksAllocs measures Publish with acks: the whole process,
// nats-server storing and acking and nats.go receiving the ack included,
// which is what a tick costs, and Publish alone (a reply subject nobody
// serves, so nothing comes back to receive).
func TestPublisherAcksAllocs(t *testing.T) {
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS", AckWindow: 1 << 20})
	tk := ticktest.Tick("BRK.B", 1)
	pub.Publish(tk)
	const n = 10_000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		pub.Publish(tk)
	}
	if err := pub.Flush(5 * time.Second); err != nil { // every ack received
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	t.Logf("with JetStream acks, the process allocates %.1f times per tick (nats-server storing and acking, nats.go receiving the ack)",
		float64(after.Mallocs-before.Mallocs)/n)

	quiet := quietPublisher(t, s.ClientURL())
	quiet.Publish(tk)
	if n := testing.AllocsPerRun(1000, func() { quiet.Publish(tk) }); n >= 0.5 {
		t.Errorf("Publish with acks allocates %v times per tick, want 0", n)
	}
}

// quietPublisher returns a Publisher on url with acks that publishes on
// nobody.> for replies on void.reply: nothing answers, so nothing comes
// back for the process to receive, and its allocations are Publish's.
func quietPublisher(tb testing.TB, url string) *Publisher {
	tb.Helper()
	p := NewPublisher(connect(tb, url), "nobody")
	a, err := newAcker(p.nc, 1<<20, p.ackFailed)
	if err != nil {
		tb.Fatal(err)
	}
	reply := "void.reply"
	a.reply.Store(&reply)
	p.acks = a
	return p
}

// TestLastMessages reads back each symbol's last tick, epoch included,
// with its last book and status message; a symbol the stream has no tick
// of is left out, and so is one whose last book is of another epoch than
// its last tick.
func TestLastMessages(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS", Epoch: "run-1"})
	var last feed.Tick
	for seq := uint64(1); seq <= 5; seq++ {
		last = ticktest.Tick("BRK.B", seq)
		last.Epoch = "run-1"
		pub.Publish(last)
	}
	book := feed.Book{Symbol: "BRK.B", Seq: 9, TS: 1, Epoch: "run-1", Bids: []feed.Level{{Price: 470, Size: 0}}, Asks: []feed.Level{}}
	status := feed.Status{Symbol: "BRK.B", Seq: 2, TS: 1, Epoch: "run-1", Status: feed.StatusHalted, Reason: "LUDP"}
	pub.PublishBook(book)
	pub.PublishStatus(status)
	moved := ticktest.Tick("MSFT", 1)
	moved.Epoch = "run-1"
	pub.Publish(moved)
	pub.PublishBook(feed.Book{Symbol: "MSFT", Seq: 1, TS: 1, Epoch: "run-2", Snapshot: true})
	pub.Heartbeat()
	if err := pub.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, err := pub.LastMessages(context.Background(), []string{"AAPL", "BRK.B", "MSFT"})
	if err != nil || !slices.Equal(got.Ticks, []feed.Tick{last}) || len(got.Books) != 1 || !reflect.DeepEqual(got.Books[0], book) ||
		!slices.Equal(got.Status, []feed.Status{status}) {
		t.Fatalf("LastMessages = %+v, %v; want only BRK.B's %+v, %+v, %+v", got, err, last, book, status)
	}
	core := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}})
	if got, err := core.LastMessages(context.Background(), []string{"BRK.B"}); got.Ticks != nil || err != nil {
		t.Fatalf("LastMessages without a stream = %v, %v; want nothing", got, err)
	}
}

// TestAcksLostOnDisconnect loses the connection with acks outstanding:
// they can no longer come, so the next Publish counts them as failed and
// starts a new round.
func TestAcksLostOnDisconnect(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	s := natstest.Run(t, natstest.Options(port))
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}})
	silent := func(url string) { // takes the ticks and never acks
		t.Helper()
		subscribeSync(t, url, "ticks.>")
	}
	silent(s.ClientURL())
	a, err := newAcker(pub.nc, 100, pub.ackFailed)
	if err != nil {
		t.Fatal(err)
	}
	pub.acks = a
	pub.shown.Store(a)
	pub.Publish(ticktest.Tick("AAPL", 1))
	pub.Publish(ticktest.Tick("AAPL", 2))
	if err := pub.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	natstest.Stop(s)
	s = natstest.Run(t, natstest.Options(port))
	silent(s.ClientURL())
	poll.Until(t, 10*time.Second, func() error {
		if !pub.Connected() {
			return errors.New("publisher not reconnected")
		}
		return nil
	})
	pub.Publish(ticktest.Tick("AAPL", 3))
	if pub.AckFailures() != 2 || a.pending() != 1 {
		t.Fatalf("ack failures %d, pending %d; want the 2 lost, and tick 3 pending", pub.AckFailures(), a.pending())
	}
}
