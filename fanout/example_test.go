package fanout_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
)

func ExampleEngine() {
	e, err := fanout.New(fanout.Config{}, []string{"AAPL", "MSFT"}, prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	const ts = 1732470000123456789
	e.Publish(feed.Tick{Symbol: "AAPL", Seq: 1, Price: 189.31, Size: 100, Bid: 189.30, Ask: 189.32, TS: ts})

	c := e.NewClient()
	added, err := e.Subscribe(c, []string{"AAPL", "MSFT"})
	if err != nil {
		panic(err)
	}
	fmt.Println("subscribed:", added)
	e.Publish(feed.Tick{Symbol: "AAPL", Seq: 2, Price: 189.33, Size: 200, Bid: 189.32, Ask: 189.34, TS: ts + 1})
	e.Publish(feed.Tick{Symbol: "AAPL", Seq: 3, Price: 189.35, Size: 50, Bid: 189.34, Ask: 189.36, TS: ts + 2})

	// A session's writer waits for Ready, then drains until the queue is
	// empty. Whether AAPL seq 1 arrives as a snapshot or live depends on
	// the shard having seen it before Subscribe; either way each seq comes
	// once, in order.
	var msgs []fanout.Message
	for len(msgs) < 3 {
		select {
		case <-c.Ready():
		case <-time.After(5 * time.Second): // an example must not hang
			panic("AAPL ticks not queued within 5s")
		}
		for {
			before := len(msgs)
			if msgs = c.Drain(msgs, 64<<10); len(msgs) == before {
				break
			}
		}
	}
	for _, m := range msgs {
		t, err := feed.DecodeJSON(m.Data)
		if err != nil {
			panic(err)
		}
		fmt.Println(t.Symbol, t.Seq, t.Price)
	}
	e.UnsubscribeAll(c)
	fmt.Println("subscriptions:", e.Subscriptions())
	// Output:
	// subscribed: [AAPL MSFT]
	// AAPL 1 189.31
	// AAPL 2 189.33
	// AAPL 3 189.35
	// subscriptions: 0
}
