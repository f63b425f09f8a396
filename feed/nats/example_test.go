package nats_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/nats"
)

// printN prints n ticks, then cancels the run.
type printN struct {
	n    int
	stop context.CancelFunc
}

func (p *printN) List(feed.Listing) {}

func (p *printN) Publish(t feed.Tick) {
	fmt.Println(t.Symbol, t.Seq, t.Price)
	if p.n--; p.n == 0 {
		p.stop()
	}
}

// Example sends two ticks through an in-process NATS server: a Publisher
// puts them on ticks.AAPL and ticks.BRK.B, and a Source hands them to its
// sink.
func Example() {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		log.Fatal("nats-server not ready")
	}

	src, err := nats.New(nats.Config{URLs: []string{ns.ClientURL()}, Symbols: []string{"AAPL", "BRK.B"}},
		prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, &printN{n: 2, stop: cancel}) }()
	for deadline := time.Now().Add(5 * time.Second); !src.Ready(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) { // a gateway answers /readyz with 503 meanwhile
			log.Fatal("source not ready after 5s")
		}
	}

	nc, err := natsgo.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	pub := nats.NewPublisher(nc, "")
	pub.Publish(feed.Tick{Symbol: "AAPL", Seq: 1, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789})
	pub.Publish(feed.Tick{Symbol: "BRK.B", Seq: 1, Price: 470.25, Size: 200, Bid: 470.2, Ask: 470.3, TS: 1732470000123456790})
	if err := pub.Flush(5 * time.Second); err != nil {
		log.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			log.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		log.Fatal("ticks not delivered within 5s")
	}
	// Output:
	// AAPL 1 189.31
	// BRK.B 1 470.25
}

// ExampleConnect puts two ticks into a JetStream stream before any gateway
// runs; a Source started afterwards replays them, so it has AAPL's last
// tick before anything new is published.
func ExampleConnect() {
	dir, err := os.MkdirTemp("", "tickgate-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, JetStream: true, StoreDir: dir})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	defer ns.WaitForShutdown()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(5 * time.Second) {
		log.Fatal("nats-server not ready")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Connect creates the stream TICKS on ticks.> (it did not exist).
	pub, err := nats.Connect(ctx, nats.PublisherConfig{URLs: []string{ns.ClientURL()}, Stream: "TICKS"}, slog.New(slog.DiscardHandler))
	if err != nil {
		log.Fatal(err)
	}
	defer pub.Close()
	pub.Publish(feed.Tick{Symbol: "AAPL", Seq: 1, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789})
	pub.Publish(feed.Tick{Symbol: "AAPL", Seq: 2, Price: 189.35, Size: 200, Bid: 189.34, Ask: 189.36, TS: 1732470000223456789})
	pub.Heartbeat() // tells gateways the feed is alive; never handed on as a tick
	if err := pub.Flush(5 * time.Second); err != nil {
		log.Fatal(err)
	}

	src, err := nats.New(nats.Config{URLs: []string{ns.ClientURL()}, Symbols: []string{"AAPL"}, Stream: "TICKS"},
		prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		log.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, &printN{n: 2, stop: cancel}) }()
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	// Output:
	// AAPL 1 189.31
	// AAPL 2 189.35
}
