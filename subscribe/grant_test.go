package subscribe

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/wstest"
)

// tableVerifier grants the tokens it lists and refuses others with
// the reason the token names after "bad:". The JWT verifier (auth/) has
// its own tests; these exercise what a session does with a grant.
type tableVerifier struct {
	mu     sync.Mutex
	grants map[string]Grant
}

func (v *tableVerifier) Verify(tok string) (Grant, error) {
	if reason, ok := strings.CutPrefix(tok, "bad:"); ok {
		return Grant{}, &AuthError{Reason: reason}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	g, ok := v.grants[tok]
	if !ok {
		return Grant{}, &AuthError{Reason: AuthBadSignature}
	}
	return g, nil
}

func (v *tableVerifier) set(tok string, g Grant) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.grants[tok] = g
}

func newAuthEnv(t *testing.T, fcfg fanout.Config) (*testEnv, *tableVerifier) {
	v := &tableVerifier{grants: map[string]Grant{
		"all":  {Subject: "alice", Symbols: []string{"*"}},
		"ms":   {Subject: "bob", Symbols: []string{"MS*", "NVDA"}},
		"late": {Subject: "carol", Symbols: []string{"*"}, Tier: Delayed},
	}}
	return newTestEnv(t, Config{Verifier: v, FirstMessageTimeout: 500 * time.Millisecond}, fcfg), v
}

// dialStatus dials and returns the HTTP status and JSON error of a refused
// upgrade (0 and "" when it succeeded, closing the connection).
func dialStatus(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
	if err == nil {
		conn.CloseNow()
		return 0, ""
	}
	if resp == nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	var body struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Error
}

func TestTokenSources(t *testing.T) {
	t.Parallel()
	e, _ := newAuthEnv(t, fanout.Config{})
	by := e.dial("?token=all&symbols=AAPL")
	by.expectReply("subscribed", 0)

	if code, reason := dialStatus(t, e.url+"?token=bad:expired", nil); code != 401 || reason != "expired" {
		t.Fatalf("expired token: %d %q, want 401 expired", code, reason)
	}
	if code, reason := dialStatus(t, e.url, http.Header{"Authorization": {"Bearer bad:wrong_algorithm"}}); code != 401 || reason != "wrong_algorithm" {
		t.Fatalf("bad header token: %d %q, want 401 wrong_algorithm", code, reason)
	}
	if code, reason := dialStatus(t, e.url+"?symbols=AAPL", nil); code != 401 || reason != "missing" {
		t.Fatalf("?symbols= without a token: %d %q, want 401 missing", code, reason)
	}
	if code, _ := dialStatus(t, e.url+"?symbols=AAPL", http.Header{"Authorization": {"Bearer all"}}); code != 0 {
		t.Fatalf("header token: %d, want an upgrade", code)
	}

	first := e.dial("")
	first.send(`{"op":"auth","id":1,"token":"all"}`)
	if m := first.expectReply("authenticated", 1); m.Msg != "" {
		t.Fatalf("auth reply %+v", m)
	}
	first.send(`{"op":"subscribe","id":2,"symbols":["MSFT"]}`)
	first.expectReply("subscribed", 2)

	for _, tc := range []struct{ first, text string }{
		{`{"op":"auth","token":"bad:bad_signature"}`, "token bad_signature"},
		{`{"op":"subscribe","symbols":["AAPL"]}`, "token missing"},
		{``, "token missing"}, // says nothing: first_message_timeout
	} {
		c := e.dial("")
		if tc.first != "" {
			c.send(tc.first)
		}
		if code := c.closeStatus(); code != 4003 || !strings.Contains(c.err.Error(), tc.text) {
			t.Fatalf("first message %s: close %v (%v), want 4003 %q", tc.first, code, c.err, tc.text)
		}
	}
	e.publish("AAPL", 3)
	by.expectTicks("AAPL", 0, 3)
	if got := gatheredLabel(t, e, "tickgate_auth_failures_total", "missing"); got != 3 {
		t.Fatalf("auth_failures{missing} = %v, want 3", got)
	}
}

// bystander is a client with every symbol that the test checks keeps
// every seq of AAPL while others misbehave.
func bystander(e *testEnv) func() {
	by := e.dial("?token=all&symbols=AAPL")
	by.expectReply("subscribed", 0)
	return func() {
		e.t.Helper()
		e.publish("AAPL", 3)
		by.expectTicks("AAPL", e.seq["AAPL"]-3, 3)
	}
}

func TestGrantLimitsSymbols(t *testing.T) {
	t.Parallel()
	e, _ := newAuthEnv(t, fanout.Config{})
	defer bystander(e)()
	c := e.dial("?token=ms")
	c.send(`{"op":"subscribe","id":1,"symbols":["MSFT","AAPL"]}`)
	if m := c.expectReply("error", 1); m.Code != "forbidden" || !strings.Contains(m.Msg, "AAPL") {
		t.Fatalf("reply %+v, want forbidden naming AAPL", m)
	}
	c.send(`{"op":"subscribe","id":2,"symbols":["*"]}`)
	if m := c.expectReply("subscribed", 2); !slices.Equal(m.Symbols, []string{"MSFT", "NVDA"}) {
		t.Fatalf("* under MS*,NVDA subscribed %q", m.Symbols)
	}
	if code, _ := dialStatus(t, e.url+"?token=ms&symbols=AAPL", nil); code != 403 {
		t.Fatalf("?symbols= outside the grant: %d, want 403", code)
	}
}

func TestExpiryAndRefresh(t *testing.T) {
	t.Parallel()
	e, v := newAuthEnv(t, fanout.Config{})
	defer bystander(e)()
	exp := time.Now().Add(time.Second)
	v.set("short", Grant{Subject: "dan", Symbols: []string{"*"}, Expires: exp})
	v.set("fresh", Grant{Subject: "dan", Symbols: []string{"MSFT"}, Expires: time.Now().Add(time.Hour)})
	expiring := e.dial("?token=short&symbols=AAPL")
	expiring.expectReply("subscribed", 0)
	refreshed := e.dial("?token=short&symbols=AAPL,MSFT")
	refreshed.expectReply("subscribed", 0)
	refreshed.send(`{"op":"auth","id":9,"token":"fresh"}`)
	refreshed.expectReply("authenticated", 9)
	if m := refreshed.next(); m.Type != "notice" || m.Code != "revoked" || !slices.Equal(m.Symbols, []string{"AAPL"}) {
		t.Fatalf("after a narrower token: %+v, want a revoked notice for AAPL", m)
	}
	if code := expiring.closeStatus(); code != 4003 || !strings.Contains(expiring.err.Error(), "token expired") {
		t.Fatalf("at exp: close %v (%v), want 4003 token expired", code, expiring.err)
	}
	if late := time.Since(exp); late < 0 {
		t.Fatalf("closed %v before exp", -late)
	}
	e.publish("MSFT", 2)
	refreshed.expectTicks("MSFT", 0, 2) // still open past the first exp
}

func TestMaxConnsPerSubject(t *testing.T) {
	t.Parallel()
	e, v := newAuthEnv(t, fanout.Config{})
	defer bystander(e)()
	v.set("two", Grant{Subject: "erin", Symbols: []string{"*"}, MaxConns: 2})
	a, b := e.dial("?token=two"), e.dial("?token=two")
	if code, reason := dialStatus(t, e.url+"?token=two", nil); code != 429 || reason != "too_many_connections" {
		t.Fatalf("third connection: %d %q, want 429", code, reason)
	}
	c := e.dial("")
	c.send(`{"op":"auth","token":"two"}`)
	if code := c.closeStatus(); code != 4029 {
		t.Fatalf("third by first message: close %v, want 4029", code)
	}
	a.conn.Close(websocket.StatusNormalClosure, "")
	checkFor(t, 5*time.Second, func() error {
		if code, _ := dialStatus(t, e.url+"?token=two", nil); code != 0 {
			return fmt.Errorf("after one closed: %d", code)
		}
		return nil
	})
	_ = b
}

// TestDelayedTier runs a 300 ms delayed tier: a delayed client gets every
// tick at least 300 ms after its ts, contiguous and marked, while a
// realtime client beside it gets them at once.
func TestDelayedTier(t *testing.T) {
	t.Parallel()
	e, _ := newAuthEnv(t, fanout.Config{Delay: 300 * time.Millisecond, DelayMaxBytes: 64 << 10})
	rt := e.dial("?token=all&symbols=AAPL")
	rt.expectReply("subscribed", 0)
	dl, err := dialWS(e.url + "?token=late&symbols=AAPL")
	if err != nil {
		t.Fatal(err)
	}
	dl.t = t
	t.Cleanup(func() { dl.conn.CloseNow() })
	type arrival struct {
		m  msg
		at time.Time
		d  bool
	}
	got := make(chan arrival, 1024)
	go func() {
		defer close(got)
		for {
			_, b, err := dl.conn.Read(context.Background())
			if err != nil {
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				var m msg
				json.Unmarshal([]byte(line), &m)
				if !wstest.IsWelcome(m) {
					got <- arrival{m, time.Now(), strings.Contains(line, `"delayed":true`)}
				}
			}
		}
	}()
	if a := <-got; a.m.Type != "subscribed" {
		t.Fatalf("delayed client's first message %+v", a.m)
	}
	const n = 40
	for range n {
		e.publishNow("AAPL")
		time.Sleep(5 * time.Millisecond)
	}
	rt.expectTicks("AAPL", 0, n) // realtime: at once, every seq
	for seq := uint64(1); seq <= n; seq++ {
		var a arrival
		select {
		case a = <-got:
		case <-time.After(10 * time.Second):
			t.Fatalf("delayed seq %d not within 10s", seq)
		}
		if a.m.Type != "tick" || a.m.Seq != seq || !a.d {
			t.Fatalf("delayed client got %+v (delayed %v), want seq %d marked delayed", a.m, a.d, seq)
		}
		if age := a.at.Sub(time.Unix(0, a.m.TS)); age < 300*time.Millisecond {
			t.Fatalf("seq %d arrived %v after its ts, before the 300ms delay", seq, age)
		}
	}
	if got := gathered(t, e.reg, "tickgate_delayed_connections"); got != 1 {
		t.Fatalf("delayed_connections = %v", got)
	}
}

// TestAuthOpWithAuthOff: a client that renews its token against a gateway
// without authentication is answered and keeps its subscriptions.
func TestAuthOpWithAuthOff(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	c := e.dial("?symbols=AAPL")
	c.expectReply("subscribed", 0)
	c.send(`{"op":"auth","id":3,"token":"whatever"}`)
	c.expectReply("authenticated", 3)
	e.publish("AAPL", 2)
	c.expectTicks("AAPL", 0, 2)
}
