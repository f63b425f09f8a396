package sim_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/sim"
)

// firstN prints the first n ticks' symbol and seq, then cancels the run.
type firstN struct {
	n    int
	stop context.CancelFunc
}

func (f *firstN) List(feed.Listing) {}

func (f *firstN) Publish(t feed.Tick) {
	if f.n == 0 {
		return // Run may finish its current burst after stop
	}
	fmt.Println(t.Symbol, t.Seq, t.Validate() == nil)
	if f.n--; f.n == 0 {
		f.stop()
	}
}

func Example() {
	src, err := sim.New(sim.Config{Rate: 1000, Seed: 42, Symbols: []string{"AAPL"}})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Run(ctx, &firstN{n: 3, stop: cancel}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(feed.Symbols(src.Listings()))
	// Output:
	// AAPL 1 true
	// AAPL 2 true
	// AAPL 3 true
	// [AAPL]
}
