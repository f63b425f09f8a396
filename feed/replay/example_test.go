package replay_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/replay"
)

// printN prints the first n ticks and then cancels the run.
type printN struct {
	n    int
	stop context.CancelFunc
}

func (p *printN) List(feed.Listing) {}

func (p *printN) Publish(t feed.Tick) {
	if p.n == 0 {
		return
	}
	fmt.Println(t.Symbol, t.Seq, t.Price, t.Bid, t.Ask)
	if p.n--; p.n == 0 {
		p.stop()
	}
}

// Example plays the first ticks of a recorded CSV file as fast as possible.
func Example() {
	src, err := replay.New(replay.Config{Path: "testdata/sample.csv", Fast: true},
		prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(src.Listings()), "symbols")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Run(ctx, &printN{n: 3, stop: cancel}); err != nil {
		log.Fatal(err)
	}
	// Output:
	// 10 symbols
	// JPM 1 239.97 239.96 239.98
	// META 1 589.78 589.77 589.8
	// META 2 590.07 590.07 590.08
}
