package subscribe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestPendingHandshakesCountPerIP opens max_connections_per_ip
// connections from one address that send half a request and wait
// (slowloris): while they are pending, the next connection from that
// address is refused with 429 as it is accepted, counted as per_ip at
// accept; a bystander from another address connects and gets every seq;
// once the pending ones close, the address connects again.
func TestPendingHandshakesCountPerIP(t *testing.T) {
	t.Parallel()
	const limit = 5
	e := newTestEnv(t, Config{MaxConnectionsPerIP: limit}, fanout.Config{})
	addr := strings.TrimPrefix(strings.TrimSuffix(e.url, "/ws"), "ws://")
	slow := netip.MustParseAddr("127.0.0.2")
	var pending []net.Conn
	for range limit {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: slow.AsSlice()}}).Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte("GET /ws HTTP/1.1\r\nHost: " + addr + "\r\n")); err != nil {
			t.Fatal(err)
		}
		pending = append(pending, c)
	}
	checkFor(t, 5*time.Second, func() error {
		if n := e.srv.perIP.count(slow); n != limit {
			return fmt.Errorf("%s holds %d slots, want %d", slow, n, limit)
		}
		return nil
	})
	if got := dialFromStatus(t, e.url, slow); got != http.StatusTooManyRequests {
		t.Fatalf("connection past %d pending handshakes: HTTP %d, want 429", limit, got)
	}
	if got := gatheredWith(t, e.reg, "tickgate_connections_rejected_total", "reason", "per_ip", "transport", "accept"); got != 1 {
		t.Fatalf("connections_rejected_total{per_ip, accept} = %v, want 1", got)
	}

	by := wstest.DialWith(t, e.url+"?symbols=AAPL", dialFrom(netip.MustParseAddr("127.0.0.3")))
	by.ReadAhead()
	expectReply(by, "subscribed", 0)
	e.publish("AAPL", 50)
	expectTicks(by, "AAPL", 0, 50)

	for _, c := range pending {
		c.Close()
	}
	checkFor(t, 5*time.Second, func() error {
		if got := dialFromStatus(t, e.url, slow); got != http.StatusSwitchingProtocols {
			return fmt.Errorf("after the pending handshakes closed: HTTP %d, want 101", got)
		}
		return nil
	})
}

// dialFrom dials from the loopback address ip.
func dialFrom(ip netip.Addr) *websocket.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip.AsSlice()}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}}
}

// dialFromStatus dials url from ip and returns the HTTP status of the
// answer (101 on success, the connection then closed by the test).
func dialFromStatus(t *testing.T, url string, ip netip.Addr) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, url, dialFrom(ip))
	if err == nil {
		t.Cleanup(func() { conn.CloseNow() })
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	return resp.StatusCode
}

// count is how many connections ip holds.
func (p *ipSlots) count(ip netip.Addr) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[ip]
}
