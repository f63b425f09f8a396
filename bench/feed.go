package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/feed/sim"
)

// harnessFeed is the feed the harness itself runs for -feed nats and for
// Centrifugo: tickgate's simulated feed with the gateway's default seed,
// skew and symbols, so every target sees the same symbols ticking on the
// same seeded schedule, published into an embedded nats-server or
// Centrifugo's HTTP API.
type harnessFeed struct {
	ns      *server.Server // nil unless NATS
	nc      *natsgo.Conn
	sink    feed.Sink
	counted func() uint64 // ticks handed on so far
	cancel  context.CancelFunc
	done    chan struct{}
}

// startNATS runs an embedded nats-server on a free loopback port; the feed
// itself starts with run, once the server under test has subscribed.
func startNATS() (*harnessFeed, error) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoSigs: true, NoLog: true})
	if err != nil {
		return nil, fmt.Errorf("nats-server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("nats-server not ready")
	}
	nc, err := natsgo.Connect(ns.ClientURL(), natsgo.Name("tickgate-bench-feed"))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("nats connect: %w", err)
	}
	pub := feednats.NewPublisher(nc, "ticks")
	return &harnessFeed{ns: ns, nc: nc, sink: pub, counted: pub.Published}, nil
}

// url is the embedded server's client URL ("" for Centrifugo's feed).
func (f *harnessFeed) url() string {
	if f.ns == nil {
		return ""
	}
	return f.ns.ClientURL()
}

// harnessBookChurn is the harness feed's book churn with books on: the
// gateway's own default (feed.sim.book_churn).
const harnessBookChurn = 0.25

// run starts the simulated feed at rate ticks/s into the sink, with each
// symbol's order book (sim.Config.Book) if books.
func (f *harnessFeed) run(rate float64, books bool, stderr io.Writer) error {
	cfg := sim.Config{Rate: rate}
	if books {
		cfg.Book, cfg.Churn = true, harnessBookChurn
	}
	src, err := sim.New(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		if err := src.Run(ctx, f.sink); err != nil {
			fmt.Fprintln(stderr, "harness feed:", err)
		}
	}()
	return nil
}

// published is the ticks handed to the target so far.
func (f *harnessFeed) published() uint64 { return f.counted() }

// stop ends the feed, then the NATS connection and server.
func (f *harnessFeed) stop() {
	if f.cancel != nil {
		f.cancel()
		<-f.done
	}
	if c, ok := f.sink.(io.Closer); ok {
		c.Close()
	}
	if f.nc != nil {
		f.nc.Close()
	}
	if f.ns != nil {
		f.ns.Shutdown()
		f.ns.WaitForShutdown()
	}
}

// Compile-time checks for the sinks the feed uses.
var (
	_ feed.Sink = (*feednats.Publisher)(nil)
	_ feed.Sink = (*centrifugoSink)(nil)
)
