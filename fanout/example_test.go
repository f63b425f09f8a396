package fanout_test

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
)

func ExampleEngine() {
	e, stop := run(fanout.Config{}, "AAPL", "MSFT")
	defer stop()

	const ts = 1732470000123456789
	e.Publish(feed.Tick{Symbol: "AAPL", Seq: 1, Price: 189.31, Size: 100, Bid: 189.30, Ask: 189.32, TS: ts})

	out := make(chan []byte, 16)
	c := e.NewClient(writer(out))
	res, err := e.Subscribe(c, []string{"AAPL", "MSFT"}, fanout.Policy{}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println("subscribed:", res.Added)
	e.Publish(feed.Tick{Symbol: "AAPL", Seq: 2, Price: 189.33, Size: 200, Bid: 189.32, Ask: 189.34, TS: ts + 1})
	e.Publish(feed.Tick{Symbol: "AAPL", Seq: 3, Price: 189.35, Size: 50, Bid: 189.34, Ask: 189.36, TS: ts + 2})

	// Whether AAPL seq 1 arrives as a snapshot or live depends on the
	// shard having seen it before Subscribe; either way each seq comes
	// once, in order. Live, it comes after a reset notice that names the
	// symbol's first epoch, which the subscribed reply could not.
	var msgs [][]byte
	for len(msgs) < 3 {
		select {
		case m := <-out:
			if !bytes.HasPrefix(m, []byte(`{"type":"notice"`)) {
				msgs = append(msgs, m)
			}
		case <-time.After(10 * time.Second): // bounded: never spin forever
			panic("timed out")
		}
	}
	for _, m := range msgs {
		t, err := feed.DecodeJSON(m)
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

// ExampleEngine_bars subscribes to 1-second bars: the tick of a later
// bucket makes the bar before it final, encoded once for every subscriber.
func ExampleEngine_bars() {
	e, stop := run(fanout.Config{BarHistory: 100}, "AAPL")
	defer stop()

	out := make(chan []byte, 16)
	c := e.NewClient(writer(out))
	if _, err := e.Subscribe(c, []string{"AAPL"}, fanout.Policy{Stream: fanout.Bars1s}, nil); err != nil {
		panic(err)
	}
	const sec = 1732470000000000000 // a bucket start, Unix ns
	for i, px := range []float64{189.31, 189.40, 189.25, 189.33} {
		e.Publish(feed.Tick{Symbol: "AAPL", Seq: uint64(i + 1), Price: px, Size: 100, Bid: px - 0.01, Ask: px + 0.01, TS: sec + int64(i)*4e8})
	}
	// Subscribed before AAPL's first tick, the client was told no epoch:
	// the first tick names it (ticks that carry none are epoch "0").
	for range 2 {
		select {
		case b := <-out:
			fmt.Println(string(b))
		case <-time.After(10 * time.Second):
			panic("timed out")
		}
	}
	e.UnsubscribeAll(c)
	// Output:
	// {"type":"notice","code":"epoch","stream":"bars.1s","sym":"AAPL","epoch":"0"}
	// {"type":"bar","stream":"bars.1s","sym":"AAPL","t":1732470000000000000,"o":189.31,"h":189.4,"l":189.25,"c":189.25,"v":300,"n":3,"seq":1732470000,"prev":0}
}

// writer is a session's writer, as the start function of
// Engine.NewClient: started whenever the client's queue needs one, it
// takes what is queued with Next until Next finds nothing, then ends. It
// hands each message's wire form to out.
func writer(out chan<- []byte) func(*fanout.Client) {
	return func(c *fanout.Client) {
		go func() {
			for {
				msgs, _ := c.Next(nil, 64<<10)
				if len(msgs) == 0 {
					return
				}
				for _, m := range msgs {
					out <- m.AppendTo(nil)
				}
			}
		}()
	}
}

// run builds an engine for syms and runs it until stop is called.
func run(cfg fanout.Config, syms ...string) (e *fanout.Engine, stop func()) {
	e, err := fanout.New(cfg, feed.Listed(syms...), prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.Run(ctx); close(stopped) }()
	return e, func() { cancel(); <-stopped }
}

// ExampleEngine_List lists and delists symbols while the engine runs: a
// listing (or a first tick) adds a symbol, with its previous close; a
// delisting retires it, and its subscribers get the retired notice.
func ExampleEngine_List() {
	e, stop := run(fanout.Config{})
	defer stop()
	e.List(feed.Listing{Symbol: "IPO", PrevClose: 18.25})
	e.Publish(feed.Tick{Symbol: "NEWCO", Seq: 1, Price: 9.5, Size: 100, Bid: 9.49, Ask: 9.51, TS: 1732470000123456789})
	fmt.Println(e.Symbols())
	for _, info := range e.Find("IP", 10, nil) {
		fmt.Println(info.Name, info.PrevClose)
	}

	out := make(chan []byte, 16)
	c := e.NewClient(writer(out))
	if _, err := e.Subscribe(c, []string{"IPO"}, fanout.Policy{}, nil); err != nil {
		panic(err)
	}
	e.List(feed.Listing{Symbol: "IPO", Delisted: true})
	select {
	case m := <-out:
		fmt.Println(string(m))
	case <-time.After(10 * time.Second):
		panic("timed out")
	}
	fmt.Println(e.Symbols(), e.Known("IPO"))
	// Output:
	// [IPO NEWCO]
	// IPO 18.25
	// {"type":"notice","code":"retired","sym":"IPO","reason":"delisted"}
	// [NEWCO] false
}
