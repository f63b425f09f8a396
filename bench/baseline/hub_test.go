package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/tickgate/tickgate/feed"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSubscribeOp checks the reference hub speaks enough of the protocol for
// the harness: the subscribe op gets a reply with its id, then ticks of the
// symbol in tickgate's field order.
func TestSubscribeOp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := newHub([]string{"AAPL", "MSFT"}, prometheus.NewRegistry())
	hubCtx, stopHub := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { h.run(hubCtx); close(done) }()
	defer func() { stopHub(); <-done }()
	srv := httptest.NewServer(http.HandlerFunc(h.serveWS))
	defer srv.Close()

	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"op":"subscribe","id":7,"symbols":["MSFT"]}`)); err != nil {
		t.Fatal(err)
	}
	expect(ctx, t, conn, `{"type":"subscribed","id":7,"symbols":["MSFT"]}`)
	h.Publish(feed.Tick{Symbol: "AAPL", Seq: 1, Price: 1, Bid: 1, Ask: 1, TS: 5})
	h.Publish(feed.Tick{Symbol: "MSFT", Seq: 3, Price: 2.5, Size: 100, Bid: 2.4, Ask: 2.6, TS: 9})
	expect(ctx, t, conn, `{"type":"tick","sym":"MSFT","seq":3,"px":2.5,"sz":100,"bid":2.4,"ask":2.6,"ts":9}`)
}

func expect(ctx context.Context, t *testing.T, conn *websocket.Conn, want string) {
	t.Helper()
	_, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}
