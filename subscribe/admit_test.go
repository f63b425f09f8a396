package subscribe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// TestHugeUnknownSymbolList asks for 80,000 unknown symbols in ?symbols=:
// the 400 body names the first few and counts the rest instead of echoing
// them all, and a gateway at its connection limit answers 503 before
// looking at the list.
func TestHugeUnknownSymbolList(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{MaxConnections: 1}, fanout.Config{})
	names := make([]string, 80000)
	for i := range names {
		names[i] = fmt.Sprintf("X%05d", i)
	}
	url := strings.Replace(e.url, "ws://", "http://", 1) + "?symbols=" + strings.Join(names, ",")
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	code, body := get()
	if code != http.StatusBadRequest || len(body) > 1024 || !strings.Contains(body, "X00009") ||
		strings.Contains(body, "X00010") || !strings.Contains(body, "and 79990 more") {
		t.Fatalf("HTTP %d, %d-byte body %.300q; want 400 naming 10 symbols and 79990 more", code, len(body), body)
	}
	if n := e.srv.Connections(); n != 0 {
		t.Fatalf("a refused request kept a connection slot: %d", n)
	}
	e.dial("") // takes the only slot
	if code, body := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("at the connection limit: HTTP %d %.100q, want 503 before the list is read", code, body)
	}
}

// dialStatus dials e with extra headers and returns the HTTP status of the
// answer (101 on success, the connection then closed by the test).
func (e *testEnv) dialStatus(hdr http.Header) int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{HTTPHeader: hdr})
	if err == nil {
		e.t.Cleanup(func() { conn.CloseNow() })
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		e.t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}

func xff(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }

// TestMaxConnectionsPerIP fills one address's slots and checks the next
// connection from it gets 429 before the upgrade, counted as per_ip, and
// that a closed connection frees its slot.
func TestMaxConnectionsPerIP(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{MaxConnectionsPerIP: 2}, fanout.Config{})
	first := e.dial("")
	e.dial("")
	if got := e.dialStatus(nil); got != http.StatusTooManyRequests {
		t.Fatalf("third connection from one address: HTTP %d, want 429", got)
	}
	if got := gatheredLabel(t, e, "tickgate_connections_rejected_total", "per_ip"); got != 1 {
		t.Fatalf("connections_rejected_total{reason=per_ip} = %v, want 1", got)
	}
	first.Conn.Close(websocket.StatusNormalClosure, "")
	checkFor(t, 5*time.Second, func() error {
		if got := e.dialStatus(nil); got != http.StatusSwitchingProtocols {
			return fmt.Errorf("after a close: HTTP %d, want 101", got)
		}
		return nil
	})
}

// TestClientIPFromTrustedProxy counts connections by X-Forwarded-For when
// the peer (loopback) is a trusted proxy, and ignores the header when it
// is not.
func TestClientIPFromTrustedProxy(t *testing.T) {
	t.Parallel()
	loop := netip.MustParsePrefix("127.0.0.0/8")
	e := newTestEnv(t, Config{MaxConnectionsPerIP: 1, ClientIPHeader: "X-Forwarded-For", TrustedProxies: []netip.Prefix{loop}}, fanout.Config{})
	steps := []struct {
		hdr  http.Header
		want int
	}{
		{xff("203.0.113.1"), 101},
		{xff("203.0.113.1"), 429},
		{xff("203.0.113.2"), 101},
		{xff("198.51.100.7, 203.0.113.1, 127.0.0.9"), 429}, // nearest untrusted hop: .1
		{xff("203.0.113.3, 198.51.100.8"), 101},            // nearest: 198.51.100.8
		{nil, 101},                                         // the proxy itself
		{xff("garbage"), 429},                              // stops at the proxy: 127.0.0.1
	}
	for i, st := range steps {
		if got := e.dialStatus(st.hdr); got != st.want {
			t.Fatalf("step %d (%v): HTTP %d, want %d", i, st.hdr, got, st.want)
		}
	}

	untrusted := newTestEnv(t, Config{MaxConnectionsPerIP: 1, ClientIPHeader: "X-Forwarded-For", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, fanout.Config{})
	if got := untrusted.dialStatus(xff("203.0.113.1")); got != 101 {
		t.Fatalf("first: HTTP %d", got)
	}
	if got := untrusted.dialStatus(xff("203.0.113.2")); got != http.StatusTooManyRequests {
		t.Fatalf("header from an untrusted peer was believed: HTTP %d, want 429", got)
	}
}

// TestEveryAuthReasonHasAMessage: the 401's msg comes from a fixed table,
// never from the refused token, so each reason needs its entry.
func TestEveryAuthReasonHasAMessage(t *testing.T) {
	t.Parallel()
	for _, r := range AuthReasons {
		if authRefusals[r] == "" {
			t.Errorf("reason %s has no 401 message", r)
		}
	}
	if len(authRefusals) != len(AuthReasons) {
		t.Errorf("%d messages for %d reasons", len(authRefusals), len(AuthReasons))
	}
}
