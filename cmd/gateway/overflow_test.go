package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/internal/poll"
)

// TestReplyOverflowCounted fills a client's queue with replies alone: the
// client subscribes only to one-minute bars, of which none closes in the
// test's first minute (the bucket the gateway started in is never sent),
// sends requests and never reads, so the message that overflows its queue
// is a reply, not a tick. The gateway
// closes it as a slow consumer (4001), and both metrics of that drop must
// count it: tickgate_disconnects_total{reason="slow_consumer"} and
// tickgate_slow_consumers_total. The reply path (fanout.Client.Enqueue)
// used to drop its overflow report, so the second stayed at 0.
func TestReplyOverflowCounted(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{
		"fanout.queue_bytes": "4096", "client.max_frame_bytes": "4096",
		"client.msg_rate": "1000000", "client.msg_burst": "1000000", "client.flood_burst": "1000000",
		"client.inbound_bytes": "1e9", "client.inbound_frames": "1e9", // requests by the thousand are the point
		"client.write_timeout": "60s", // a stalled write must not close it first
		"client.ping_interval": "5m",  // nor a pong the unread client cannot send
	})
	tg.waitReady(t)
	conn := dialSmallRecvBuf(t, tg.ws)

	// Each reply names every symbol: some 600 bytes for a 60-byte request,
	// so the replies fill the client's 4 KiB receive buffer, the server's
	// send buffer (up to the kernel's 4 MiB) and then the 4 KiB queue
	// within a few hundred requests handled. The client sends them much
	// faster than a loaded machine's -race gateway handles them, in
	// segments of one request each that fill the gateway's receive buffer
	// and close its window; the client's zero-window probes then back off
	// for seconds. So its writes wait (30 s at most) while the gateway
	// works through its backlog, rather than give up and close as
	// client_closed before the overflow. Once dropped, the gateway closes
	// the connection, which fails the write.
	slow := func() float64 {
		v, _ := metricValue(t, tg.gw.reg, "tickgate_disconnects_total", "reason", "slow_consumer")
		return v
	}
	for i := 0; ; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := conn.Write(ctx, websocket.MessageText, fmt.Appendf(nil, `{"op":"subscribe","id":%d,"stream":"bars.1m","symbols":["*"]}`, i))
		cancel()
		if err != nil {
			t.Logf("request %d not sent: %v", i, err)
			break
		}
		if i > 1_000_000 {
			t.Fatal("1,000,000 unread replies did not overflow a 4 KiB queue")
		}
	}
	poll.Until(t, time.Minute, func() error {
		if slow() != 1 {
			return fmt.Errorf("disconnects_total{reason=slow_consumer} = %g, want 1", slow())
		}
		return nil
	})
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_slow_consumers_total"); v != slow() {
		t.Errorf("tickgate_slow_consumers_total = %g but tickgate_disconnects_total{reason=\"slow_consumer\"} = %g: a reply's overflow went uncounted", v, slow())
	}
}

// dialSmallRecvBuf opens a WebSocket whose socket receive buffer is 4 KiB,
// so that unread data backs up into the server quickly.
func dialSmallRecvBuf(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	d := &net.Dialer{}
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	return conn
}
