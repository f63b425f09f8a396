package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/ticktest"
)

// dialPublisher is Connect with fast reconnects, closed when the test ends.
func dialPublisher(tb testing.TB, cfg PublisherConfig) *Publisher {
	tb.Helper()
	if cfg.ReconnectWait == 0 {
		cfg.ReconnectWait = 20 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Connect(ctx, cfg, discard())
	if err != nil {
		tb.Fatalf("Connect: %v", err)
	}
	tb.Cleanup(p.Close)
	return p
}

// publishSeqs publishes ticktest.Tick(sym, seq) for seq in [from, to] for each
// symbol, round by round, and flushes.
func publishSeqs(tb testing.TB, p *Publisher, syms []string, from, to uint64) {
	tb.Helper()
	for seq := from; seq <= to; seq++ {
		for _, sym := range syms {
			p.Publish(ticktest.Tick(sym, seq))
		}
	}
	if err := p.Flush(5 * time.Second); err != nil {
		tb.Fatal(err)
	}
}

// TestStreamReplayBeforeReady starts a source after the publisher: it must
// hand on what the stream holds (the last StreamHistory ticks per symbol,
// in order) before it reports ready.
func TestStreamReplayBeforeReady(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	syms := []string{"AAPL", "BRK.B", "MSFT"}
	const history, published = 20, 50
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS", StreamHistory: history})
	publishSeqs(t, pub, syms, 1, published)
	pub.Heartbeat() // stored too; the source must skip it
	waitStored(t, s.ClientURL(), "TICKS", published*uint64(len(syms))+1)

	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: syms, Stream: "TICKS"})
	sink := &readyRecorder{src: f.src}
	f.run(t, sink)
	f.waitReady(t)

	var want []feed.Tick
	for seq := uint64(published - history + 1); seq <= published; seq++ {
		for _, sym := range syms {
			want = append(want, ticktest.Tick(sym, seq))
		}
	}
	ticktest.Equal(t, sink.got(), want) // all there the moment it is ready
	if n := sink.readyAt(); n != 0 {
		t.Errorf("source was ready at tick %d of the replay, want only after all %d", n, len(want))
	}
	if n := metric(t, f.reg, feed.DecodeErrorsMetric); n != 0 {
		t.Errorf("%v decode errors, want 0 (the heartbeat is not a tick)", n)
	}
	// Live ticks follow the replay.
	publishSeqs(t, pub, syms[:1], published+1, published+1)
	if got := sink.waitTicks(t, len(want)+1); got[len(want)] != ticktest.Tick("AAPL", published+1) {
		t.Fatalf("tick after the replay = %+v, want AAPL seq %d", got[len(want)], published+1)
	}
}

// waitStored waits until the stream has stored last messages in all:
// JetStream stores core publishes after the server has received them, so a
// Flush is not enough.
func waitStored(tb testing.TB, url, stream string, last uint64) {
	tb.Helper()
	js, err := jetstream.New(connect(tb, url))
	if err != nil {
		tb.Fatal(err)
	}
	poll.Until(tb, 10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if got := st.CachedInfo().State.LastSeq; got < last {
			return fmt.Errorf("stream %s at seq %d, want %d", stream, got, last)
		}
		return nil
	})
}

// readyRecorder is a collector that notes whether its source already
// reported ready when a tick arrived.
type readyRecorder struct {
	collector
	src   *Source
	ready int // 1 + index of the first tick that arrived while ready; 0 if none
}

func (r *readyRecorder) List(feed.Listing) {}

func (r *readyRecorder) Publish(t feed.Tick) {
	r.mu.Lock()
	if r.ready == 0 && r.src.Ready() {
		r.ready = len(r.ticks) + 1
	}
	r.mu.Unlock()
	r.collector.Publish(t)
}

func (r *readyRecorder) readyAt() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// TestStreamResumeAfterRestart kills the server and restarts it on the same
// store: ticks published while the source was still reconnecting must
// reach it, none twice.
func TestStreamResumeAfterRestart(t *testing.T) {
	t.Parallel()
	port, dir := natstest.FreePort(t), t.TempDir()
	s := natstest.Run(t, natstest.JetStreamOptions(port, dir))
	syms := []string{"AAPL", "MSFT"}
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS"})
	// The source reconnects 1-2 s after the restart, the publisher within
	// 20-40 ms: the second batch lands while the source is away.
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: syms, Stream: "TICKS", ReconnectWait: 2 * time.Second})
	sink := &collector{}
	f.run(t, sink)
	f.waitReady(t)
	publishSeqs(t, pub, syms, 1, 10)
	sink.waitTicks(t, 20)

	natstest.Stop(s)
	natstest.Run(t, natstest.JetStreamOptions(port, dir))
	poll.Until(t, 10*time.Second, func() error {
		if !pub.Connected() {
			return errors.New("publisher not reconnected")
		}
		return nil
	})
	publishSeqs(t, pub, syms, 11, 20)
	if h, _ := f.src.Health(); h == feed.Up {
		t.Fatal("source already back before the second batch; the test would not show a resume")
	}
	var want []feed.Tick
	for seq := uint64(1); seq <= 20; seq++ {
		for _, sym := range syms {
			want = append(want, ticktest.Tick(sym, seq))
		}
	}
	ticktest.Equal(t, sink.waitTicks(t, len(want)), want)
	f.waitReady(t)
}

// TestStreamMissing keeps the source unready, retrying, until a publisher
// creates the stream.
func TestStreamMissing(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}, Stream: "TICKS"})
	sink := &collector{}
	f.run(t, sink)
	poll.Until(t, 5*time.Second, func() error {
		if !strings.Contains(f.log.String(), "stream consumer not started") {
			return errors.New("no warning about the missing stream yet")
		}
		return nil
	})
	if f.src.Ready() {
		t.Fatal("ready without the stream")
	}
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS"})
	f.waitReady(t)
	publishSeqs(t, pub, []string{"AAPL"}, 1, 1)
	ticktest.Equal(t, sink.waitTicks(t, 1), []feed.Tick{ticktest.Tick("AAPL", 1)})
}

func TestConnectStreamChecks(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	js, err := jetstream.New(connect(t, s.ClientURL()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"quotes.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err = Connect(ctx, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "OTHER"}, discard())
	if err == nil || !strings.Contains(err.Error(), "do not capture ticks.>") {
		t.Errorf("Connect to a stream on other subjects: %v, want an error naming ticks.>", err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ALL", Subjects: []string{"ticks.*.>"}}); err != nil {
		t.Fatal(err)
	}
	// ticks.*.> misses one-token symbols such as ticks.AAPL.
	if _, err = Connect(ctx, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "ALL"}, discard()); err == nil {
		t.Error("Connect to a stream on ticks.*.> succeeded, want an error")
	}
	plain := natstest.Run(t, natstest.Options(-1))
	_, err = Connect(ctx, PublisherConfig{URLs: []string{plain.ClientURL()}, Stream: "TICKS"}, discard())
	if !errors.Is(err, natsgo.ErrNoResponders) || !strings.Contains(err.Error(), "JetStream enabled") {
		t.Errorf("Connect with a stream to a server without JetStream: %v, want a no-responders error asking about JetStream", err)
	}
}

func TestSubjectCovers(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		pattern, sub string
		want         bool
	}{
		{"ticks.>", "ticks.>", true},
		{">", "ticks.>", true},
		{"*.>", "ticks.>", true},
		{"md.>", "md.us.>", true},
		{"ticks.*", "ticks.>", false},
		{"ticks.AAPL", "ticks.>", false},
		{"quotes.>", "ticks.>", false},
		{"ticks.*.>", "ticks.>", false},
		{"ticks", "ticks.>", false},
		{"md.us.>", "md.>", false},
	} {
		if got := subjectCovers(c.pattern, c.sub); got != c.want {
			t.Errorf("subjectCovers(%q, %q) = %v, want %v", c.pattern, c.sub, got, c.want)
		}
	}
}

// TestPublisherDropsWhileDown checks that ticks published with no server
// are dropped and counted, not buffered and sent late.
func TestPublisherDropsWhileDown(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	s := natstest.Run(t, natstest.Options(port))
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}})
	natstest.Stop(s)
	poll.Until(t, 5*time.Second, func() error {
		if pub.Connected() {
			return errors.New("publisher still connected")
		}
		return nil
	})
	for seq := uint64(1); seq <= 5; seq++ {
		pub.Publish(ticktest.Tick("AAPL", seq))
	}
	if pub.Dropped() != 5 || pub.Published() != 0 || pub.Errors() != 0 {
		t.Fatalf("dropped %d, published %d, errors %d; want 5, 0, 0", pub.Dropped(), pub.Published(), pub.Errors())
	}

	s = natstest.Run(t, natstest.Options(port))
	nc := connect(t, s.ClientURL())
	sub, err := nc.SubscribeSync("ticks.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err) // the server has the subscription before tick 6
	}
	poll.Until(t, 10*time.Second, func() error {
		if !pub.Connected() {
			return errors.New("publisher not reconnected")
		}
		return nil
	})
	publishSeqs(t, pub, []string{"AAPL"}, 6, 6)
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := feed.DecodeJSON(m.Data); err != nil || got.Seq != 6 {
		t.Fatalf("first tick after the outage = %s, %v; want seq 6 (1-5 dropped, not sent late)", m.Data, err)
	}
	if pub.Dropped() != 5 || pub.Published() != 1 {
		t.Errorf("dropped %d, published %d; want 5, 1", pub.Dropped(), pub.Published())
	}
}

// TestStall checks that a connected source that hears neither ticks nor
// heartbeats reports itself stalled, and recovers on the next message.
func TestStall(t *testing.T) {
	t.Parallel()
	s := natstest.Run(t, natstest.Options(-1))
	const stallAfter = 500 * time.Millisecond
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}, StallAfter: stallAfter})
	f.run(t, &collector{})
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}})
	f.waitReady(t)
	_, changed := f.src.Health()

	// Heartbeats every stallAfter/10 keep it up for 2 stall periods.
	for end := time.Now().Add(2 * stallAfter); time.Now().Before(end); {
		pub.Heartbeat()
		select {
		case <-changed:
			h, _ := f.src.Health()
			t.Fatalf("health changed to %v with heartbeats flowing", h)
		case <-time.After(stallAfter / 10):
		}
	}
	select {
	case <-changed:
	case <-time.After(10 * stallAfter):
		t.Fatal("no health change within 10 stall periods of silence")
	}
	if h, _ := f.src.Health(); h != feed.Stalled || f.src.Ready() {
		t.Fatalf("health %v, ready %v after silence; want stalled, not ready", h, f.src.Ready())
	}
	if v := metric(t, f.reg, "tickgate_feed_nats_stalls_total"); v != 1 {
		t.Errorf("tickgate_feed_nats_stalls_total = %v, want 1", v)
	}
	if v := gauge(t, f, "tickgate_feed_nats_stalled"); v != 1 {
		t.Errorf("tickgate_feed_nats_stalled = %v while stalled, want 1", v)
	}
	pub.Publish(ticktest.Tick("AAPL", 1))
	f.waitReady(t)
	if v := gauge(t, f, "tickgate_feed_nats_stalled"); v != 0 {
		t.Errorf("tickgate_feed_nats_stalled = %v after a tick, want 0", v)
	}
	if n := metric(t, f.reg, feed.DecodeErrorsMetric); n != 0 {
		t.Errorf("%v decode errors, want 0 (heartbeats are not ticks)", n)
	}
}

// gauge returns the value of the gauge name in f's registry.
func gauge(tb testing.TB, f *fixture, name string) float64 {
	tb.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	tb.Fatalf("no metric %s", name)
	return 0
}

// TestHealthDownUp follows Health through a server outage: down when it
// goes, and up again only once the publisher is heard, not on reconnect.
func TestHealthDownUp(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	s := natstest.Run(t, natstest.Options(port))
	f := newFixture(t, Config{URLs: []string{s.ClientURL()}, Symbols: []string{"AAPL"}})
	if h, _ := f.src.Health(); h != feed.Down {
		t.Fatalf("health before Run = %v, want down", h)
	}
	f.run(t, &collector{})
	f.waitReady(t)
	_, changed := f.src.Health()
	natstest.Stop(s)
	waitHealth(t, f, changed, feed.Down)
	_, changed = f.src.Health()
	s = natstest.Run(t, natstest.Options(port))
	waitReconnected(t, f, 1)
	pub := dialPublisher(t, PublisherConfig{URLs: []string{s.ClientURL()}, Epoch: "e1"})
	pub.Heartbeat()
	waitHealth(t, f, changed, feed.Up)
}

// TestNoUpUntilPublisherReturns restarts NATS while the publisher is dead:
// the source reconnects and subscribes, yet stays down, with no feed_up,
// until the publisher returns and is heard.
func TestNoUpUntilPublisherReturns(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	s := natstest.Run(t, natstest.Options(port))
	url := []string{s.ClientURL()}
	f := newFixture(t, Config{URLs: url, Symbols: []string{"AAPL"}, StallAfter: 200 * time.Millisecond})
	sink := &collector{}
	f.run(t, sink)
	pub := dialPublisher(t, PublisherConfig{URLs: url, Epoch: "e1"})
	f.waitReady(t)
	publishSeqs(t, pub, []string{"AAPL"}, 1, 1)
	sink.waitTicks(t, 1)
	pub.Close() // the publisher dies

	natstest.Stop(s)
	natstest.Run(t, natstest.Options(port))
	waitReconnected(t, f, 1)
	_, changed := f.src.Health()
	select {
	case <-changed:
		h, _ := f.src.Health()
		t.Fatalf("health changed to %v after a reconnect with no publisher", h)
	case <-time.After(time.Second): // 5 stall limits: a stall would show too
	}
	if f.src.Ready() {
		t.Fatal("ready after a reconnect with no publisher")
	}
	pub = dialPublisher(t, PublisherConfig{URLs: url, Epoch: "e2"})
	publishSeqs(t, pub, []string{"AAPL"}, 1, 1)
	waitHealth(t, f, changed, feed.Up)
	if got := sink.waitTicks(t, 2); got[1] != ticktest.Tick("AAPL", 1) {
		t.Fatalf("tick after the return = %+v", got[1])
	}
}

// waitReconnected waits for the source's n-th reconnect.
func waitReconnected(tb testing.TB, f *fixture, n float64) {
	tb.Helper()
	poll.Until(tb, 10*time.Second, func() error {
		if r := metric(tb, f.reg, "tickgate_feed_nats_reconnects_total"); r != n {
			return fmt.Errorf("%v reconnects, want %v", r, n)
		}
		return nil
	})
}

// waitHealth waits for changed to close and then for health want.
func waitHealth(tb testing.TB, f *fixture, changed <-chan struct{}, want feed.Health) {
	tb.Helper()
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		tb.Fatalf("no health change within 10s, want %v", want)
	}
	poll.Until(tb, 10*time.Second, func() error {
		if h, _ := f.src.Health(); h != want {
			return fmt.Errorf("health %v, want %v", h, want)
		}
		return nil
	})
}
