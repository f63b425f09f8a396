package nats

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// BenchmarkStreamReplay measures how long a starting source takes to
// replay a stream of 20 symbols × 1000 ticks and report ready: the warm
// start of a gateway with feed.nats.stream. (A pull batch of 4096 instead
// of the library's 500 made no difference beyond noise, so Source keeps
// the default.)
func BenchmarkStreamReplay(b *testing.B) {
	s := natstest.Run(b, natstest.JetStreamOptions(-1, b.TempDir()))
	var syms []string
	for i := range 20 {
		syms = append(syms, fmt.Sprintf("S%d", i))
	}
	pub := dialPublisher(b, PublisherConfig{URLs: []string{s.ClientURL()}, Stream: "TICKS"})
	publishSeqs(b, pub, syms, 1, 1000)
	waitStored(b, s.ClientURL(), "TICKS", 20000)
	b.ReportAllocs()
	for b.Loop() {
		replayOnce(b, s.ClientURL(), syms)
	}
	b.ReportMetric(float64(20000*b.N)/b.Elapsed().Seconds(), "ticks/s")
}

// replayOnce runs a fresh source until it has replayed the stream.
func replayOnce(b *testing.B, url string, syms []string) {
	f := newFixture(b, Config{URLs: []string{url}, Symbols: syms, Stream: "TICKS"})
	sink := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.src.Run(ctx, sink) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	poll.Until(b, 30*time.Second, func() error {
		if !f.src.Ready() {
			return fmt.Errorf("not ready")
		}
		return nil
	})
	if n := len(sink.got()); n != 20000 {
		b.Fatalf("replayed %d ticks, want 20000", n)
	}
}
