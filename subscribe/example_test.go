package subscribe_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/subscribe"
)

// ExampleServer mounts a Server as a WebSocket endpoint over a fan-out
// engine, and a client subscribes with ?symbols= and reads its snapshot.
func ExampleServer() {
	reg := prometheus.NewRegistry()
	engine, _ := fanout.New(fanout.Config{}, feed.Listed("AAPL", "MSFT"), reg)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { engine.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	srv, _ := subscribe.NewServer(subscribe.Config{}, engine, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Drain(context.Background(), 0)

	// Once the shard has taken the tick, a subscriber gets it as its
	// snapshot, and the reply names the epoch of its seq ("0": the tick
	// names none).
	engine.Publish(feed.Tick{Symbol: "AAPL", Seq: 7, Price: 189.31, Size: 100, Bid: 189.3, Ask: 189.32, TS: 1732470000123456789})
	for deadline := time.Now().Add(5 * time.Second); fedTicks(reg) < 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}

	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second) // an example must not hang
	defer rcancel()
	conn, _, err := websocket.Dial(rctx, "ws"+strings.TrimPrefix(hs.URL, "http")+"/ws?symbols=AAPL", nil)
	if err != nil {
		panic(err)
	}
	defer conn.CloseNow()
	var lines []string
	for len(lines) < 2 { // the subscribed reply, then the snapshot; maybe in one frame
		_, b, err := conn.Read(rctx)
		if err != nil {
			panic(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(l, `{"type":"welcome"`) { // the first message; see protocol.md
				lines = append(lines, l)
			}
		}
	}
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// {"type":"subscribed","stream":"ticks","symbols":["AAPL"],"epochs":{"AAPL":"0"}}
	// {"type":"tick","sym":"AAPL","seq":7,"px":189.31,"sz":100,"bid":189.3,"ask":189.32,"ts":1732470000123456789}
}

// fedTicks is tickgate_feed_ticks_total in reg: the ticks the shards took.
func fedTicks(reg *prometheus.Registry) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "tickgate_feed_ticks_total" && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return 0
}
