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
	expectReply(by, "subscribed", 0)

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
	first.Send(`{"op":"auth","id":1,"token":"all"}`)
	if m := expectReply(first, "authenticated", 1); m.Msg != "" {
		t.Fatalf("auth reply %+v", m)
	}
	first.Send(`{"op":"subscribe","id":2,"symbols":["MSFT"]}`)
	expectReply(first, "subscribed", 2)

	for _, tc := range []struct{ first, text string }{
		{`{"op":"auth","token":"bad:bad_signature"}`, "token bad_signature"},
		{`{"op":"subscribe","symbols":["AAPL"]}`, "token missing"},
		{``, "token missing"}, // says nothing: first_message_timeout
	} {
		c := e.dial("")
		if tc.first != "" {
			c.Send(tc.first)
		}
		if code, err := closeStatus(c); code != 4003 || !strings.Contains(err.Error(), tc.text) {
			t.Fatalf("first message %s: close %v (%v), want 4003 %q", tc.first, code, err, tc.text)
		}
	}
	e.publish("AAPL", 3)
	expectTicks(by, "AAPL", 0, 3)
	if got := gatheredLabel(t, e, "tickgate_auth_failures_total", "missing"); got != 3 {
		t.Fatalf("auth_failures{missing} = %v, want 3", got)
	}
}

// bystander is a client with every symbol that the test checks keeps
// every seq of AAPL while others misbehave.
func bystander(e *testEnv) func() {
	by := e.dial("?token=all&symbols=AAPL")
	expectReply(by, "subscribed", 0)
	return func() {
		e.t.Helper()
		e.publish("AAPL", 3)
		expectTicks(by, "AAPL", e.seq["AAPL"]-3, 3)
	}
}

func TestGrantLimitsSymbols(t *testing.T) {
	t.Parallel()
	e, _ := newAuthEnv(t, fanout.Config{})
	defer bystander(e)()
	c := e.dial("?token=ms")
	c.Send(`{"op":"subscribe","id":1,"symbols":["MSFT","AAPL"]}`)
	if m := expectReply(c, "error", 1); m.Code != "forbidden" || !strings.Contains(m.Msg, "AAPL") {
		t.Fatalf("reply %+v, want forbidden naming AAPL", m)
	}
	c.Send(`{"op":"subscribe","id":2,"symbols":["*"]}`)
	if m := expectReply(c, "subscribed", 2); !slices.Equal(m.Symbols, []string{"MSFT", "NVDA"}) {
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
	expectReply(expiring, "subscribed", 0)
	refreshed := e.dial("?token=short&symbols=AAPL,MSFT")
	expectReply(refreshed, "subscribed", 0)
	refreshed.Send(`{"op":"auth","id":9,"token":"fresh"}`)
	expectReply(refreshed, "authenticated", 9)
	if m := refreshed.Next(); m.Type != "notice" || m.Code != "revoked" || !slices.Equal(m.Symbols, []string{"AAPL"}) {
		t.Fatalf("after a narrower token: %+v, want a revoked notice for AAPL", m)
	}
	if code, err := closeStatus(expiring); code != 4003 || !strings.Contains(err.Error(), "token expired") {
		t.Fatalf("at exp: close %v (%v), want 4003 token expired", code, err)
	}
	if late := time.Since(exp); late < 0 {
		t.Fatalf("closed %v before exp", -late)
	}
	e.publish("MSFT", 2)
	expectTicks(refreshed, "MSFT", 0, 2) // still open past the first exp
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
	c.Send(`{"op":"auth","token":"two"}`)
	if code, _ := closeStatus(c); code != 4029 {
		t.Fatalf("third by first message: close %v, want 4029", code)
	}
	a.Conn.Close(websocket.StatusNormalClosure, "")
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
	expectReply(rt, "subscribed", 0)
	dl := wstest.Dial(t, e.url+"?token=late&symbols=AAPL")
	type arrival struct {
		m  msg
		at time.Time
		d  bool
	}
	got := make(chan arrival, 1024)
	go func() {
		defer close(got)
		for {
			m, err := dl.Read()
			if err != nil {
				return
			}
			got <- arrival{m, time.Now(), strings.Contains(string(m.Raw), `"delayed":true`)}
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
	expectTicks(rt, "AAPL", 0, n) // realtime: at once, every seq
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
	c := e.dialSubscribed("AAPL")
	c.Send(`{"op":"auth","id":3,"token":"whatever"}`)
	expectReply(c, "authenticated", 3)
	e.publish("AAPL", 2)
	expectTicks(c, "AAPL", 0, 2)
}

// TestGrantLimitsStreams: a grant may cover ticks without depth: a
// subscribe to a stream outside it answers forbidden and changes
// nothing, and a fresh token that drops a stream unsubscribes it with a
// revoked notice naming the stream, leaving the others.
func TestGrantLimitsStreams(t *testing.T) {
	t.Parallel()
	e, v := newAuthEnv(t, fanout.Config{})
	by := e.dial("?token=all&symbols=AAPL")
	expectReply(by, "subscribed", 0)
	v.set("nodepth", Grant{Subject: "erin", Symbols: []string{"*"}, Streams: []fanout.Stream{fanout.Ticks, fanout.Status}})
	v.set("depth", Grant{Subject: "erin", Symbols: []string{"*"}})
	c := e.dial("?token=nodepth&symbols=AAPL")
	expectReply(c, "subscribed", 0)
	c.Send(`{"op":"subscribe","id":1,"stream":"book","symbols":["AAPL"]}`)
	if m := expectReply(c, "error", 1); m.Code != "forbidden" || !strings.Contains(m.Msg, "book") {
		t.Fatalf("book without depth in the grant: %+v, want forbidden", m)
	}
	c.Send(`{"op":"subscribe","id":2,"stream":"status","symbols":["AAPL"]}`)
	expectReply(c, "subscribed", 2)

	d := e.dial("?token=depth&symbols=AAPL")
	expectReply(d, "subscribed", 0)
	d.Send(`{"op":"subscribe","id":3,"stream":"book","symbols":["AAPL","MSFT"]}`)
	expectReply(d, "subscribed", 3)
	d.Send(`{"op":"auth","id":4,"token":"nodepth"}`)
	expectReply(d, "authenticated", 4)
	if m := d.Next(); m.Type != "notice" || m.Code != "revoked" || m.Stream != "book" || !slices.Equal(m.Symbols, []string{"AAPL", "MSFT"}) {
		t.Fatalf("after a token without depth: %s, want a revoked notice for the book stream", m.Raw)
	}
	d.Send(`{"op":"list","id":5}`)
	if m := expectReply(d, "list", 5); len(m.Streams["book"]) != 0 || !slices.Equal(m.Streams["ticks"], []string{"AAPL"}) {
		t.Fatalf("list after the revoke: %s", m.Raw)
	}
	e.publish("AAPL", 2)
	expectTicks(d, "AAPL", 0, 2)
	expectTicks(by, "AAPL", 0, 2)
}
