package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/feed/sim"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// jsGateway is natsGateway reading the stream TICKS.
func jsGateway(urls ...string) map[string]string {
	cfg := natsGateway(urls...)
	cfg["feed.nats.stream"] = "TICKS"
	return cfg
}

// streamOf opens the stream name on the server at url.
func streamOf(t *testing.T, url, name string) jetstream.Stream {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var st jetstream.Stream
	poll.Every(t, 10*time.Second, 10*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, err = js.Stream(ctx, name)
		return err
	})
	return st
}

// ackedHeartbeat publishes a heartbeat into the stream and waits for the
// stream's ack.
func ackedHeartbeat(t *testing.T, url string) {
	t.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, "ticks."+feednats.HeartbeatToken, []byte(`{"type":"heartbeat"}`)); err != nil {
		t.Fatal(err)
	}
}

// lastSeqs returns the seq of the newest tick the stream holds per symbol,
// for every symbol in syms, waiting until each has one.
func lastSeqs(t *testing.T, st jetstream.Stream, syms []string) map[string]uint64 {
	t.Helper()
	last := make(map[string]uint64, len(syms))
	poll.Every(t, 20*time.Second, 50*time.Millisecond, func() error {
		for _, sym := range syms {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			m, err := st.GetLastMsgForSubject(ctx, "ticks."+sym)
			cancel()
			if err != nil {
				return fmt.Errorf("%s: %w", sym, err)
			}
			tk, err := feed.DecodeJSON(m.Data)
			if err != nil {
				return err
			}
			last[sym] = tk.Seq
		}
		return nil
	})
	return last
}

// TestGatewayJetStreamWarmStart starts a gateway after the publisher has
// filled the stream and stopped: a client that subscribes to every symbol
// gets each one's latest tick at once, though no tick is being published.
func TestGatewayJetStreamWarmStart(t *testing.T) {
	t.Parallel()
	ns := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	cfg := jsGateway(ns.ClientURL())
	// 20 symbols at 1000 ticks/s: each ticks within a second, and the
	// stream keeps up under -race.
	syms := sim.DefaultSymbols[:20]
	cfg["feed.sim.symbols"] = yamlList(syms...)
	cfg["feed.sim.rate"] = "1000"
	cfg["publish.stream_history"] = "50" // a short replay under -race
	stopPub := runPublisher(t, cfg)
	st := streamOf(t, ns.ClientURL(), "TICKS")
	lastSeqs(t, st, syms) // every symbol has ticked
	stopPub()
	// A stream stores core publishes from its own queue, after the server
	// has them: a heartbeat published with an ack comes out of that queue
	// behind every tick the publisher sent.
	ackedHeartbeat(t, ns.ClientURL())
	want := lastSeqs(t, st, syms) // and now nothing more will

	tg := startGateway(t, cfg)
	tg.waitReady(t)
	c := connect(t, tg, "?symbols="+strings.Join(syms, ","))
	subscribed(c, strings.Join(syms, ","))
	// Readiness means the source has handed the backlog to the engine; a
	// shard may still be delivering its last ticks, which then follow the
	// snapshot as live ticks. Either way every symbol reaches the stream's
	// last seq with no tick published, contiguously, and goes no further.
	got := seqCheck{}
	reached := 0
	for reached < len(syms) {
		m := c.Next()
		if m.Type != "tick" {
			t.Fatalf("got %s, want ticks only", m.Raw)
		}
		got.tick(t, m)
		if m.Seq > want[m.Sym] {
			t.Fatalf("%s seq %d past the stream's last, %d", m.Sym, m.Seq, want[m.Sym])
		}
		if m.Seq == want[m.Sym] {
			reached++
		}
	}

	// The replay filled the history rings too: a client coming back from
	// another gateway recovers the ten ticks it missed; one whose point
	// is older than the stream keeps falls back to the snapshot.
	a, b := syms[0], syms[1]
	r := connect(t, tg, "")
	r.Send(fmt.Sprintf(`{"op":"subscribe","id":1,"symbols":[%q,%q],"since":{%q:%d,%q:%d}}`, a, b, a, want[a]-10, b, want[b]-500))
	if m := r.Next(); m.Type != "subscribed" || !strings.Contains(string(m.Raw), fmt.Sprintf(`"recovered":[%q],"snapshot":[%q]`, a, b)) {
		t.Fatalf("resubscribe reply %s, want %s recovered and %s snapshot", m.Raw, a, b)
	}
	seqs := map[string][]uint64{}
	for len(seqs[a]) < 10 || len(seqs[b]) < 1 {
		m := r.Next()
		seqs[m.Sym] = append(seqs[m.Sym], m.Seq)
	}
	if seqs[a][0] != want[a]-9 || seqs[a][9] != want[a] || seqs[b][0] != want[b] {
		t.Fatalf("caught up %v, want %s %d..%d and %s's snapshot %d", seqs, a, want[a]-9, want[a], b, want[b])
	}
}

// TestGatewayJetStreamResume kills the NATS server and restarts it on the
// same store directory. Ticks published while the gateway was still
// reconnecting reach its client after feed_up: its seqs stay contiguous.
func TestGatewayJetStreamResume(t *testing.T) {
	t.Parallel()
	port, dir := natstest.FreePort(t), t.TempDir()
	ns := natstest.Run(t, natstest.JetStreamOptions(port, dir))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pub, err := feednats.Connect(ctx, feednats.PublisherConfig{
		URLs: []string{ns.ClientURL()}, Stream: "TICKS", ReconnectWait: 20 * time.Millisecond,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	cfg := jsGateway(ns.ClientURL())
	cfg["feed.nats.reconnect_wait"] = "2s" // back 1-2 s after the restart, the publisher in 20-40 ms
	tg := startGateway(t, cfg)
	tg.waitReady(t)
	c := connect(t, tg, "?symbols=AAPL")
	subscribed(c, "AAPL")

	publish := func(from, to uint64) {
		t.Helper()
		for seq := from; seq <= to; seq++ {
			pub.Publish(feed.Tick{Symbol: "AAPL", Seq: seq, Price: 100, Size: 1, Bid: 99.99, Ask: 100.01, TS: time.Now().UnixNano()})
		}
		if err := pub.Flush(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	seqs := seqCheck{}
	readTo := func(seq uint64) (notices []string) {
		t.Helper()
		for seqs["AAPL"] < seq {
			m := c.Next()
			switch m.Type {
			case "tick":
				seqs.tick(t, m) // fails on any gap or repeat
			case "notice":
				notices = append(notices, m.Code)
			default:
				t.Fatalf("got %s, want ticks and notices", m.Raw)
			}
		}
		return notices
	}
	publish(1, 50)
	readTo(50)

	natstest.Stop(ns)
	nextNotice(c, "feed_down")
	natstest.Run(t, natstest.JetStreamOptions(port, dir))
	poll.Every(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !pub.Connected() {
			return errors.New("publisher not reconnected")
		}
		return nil
	})
	publish(51, 100)
	if tg.gw.clients.Ready() {
		t.Fatal("gateway back before the second batch; the test would not show a resume")
	}
	notices := readTo(100)
	// Ready means clients were sent feed_up: it precedes tick 101.
	tg.waitReady(t)
	publish(101, 101)
	notices = append(notices, readTo(101)...)
	if strings.Join(notices, ",") != "feed_up" {
		t.Errorf("notices after the restart %q, want one feed_up", notices)
	}
}
