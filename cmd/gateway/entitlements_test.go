package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tickgate/tickgate/auth"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestEntitlementsEndToEnd runs a gateway with auth.mode jwt and a 300 ms
// delayed tier, and real HS256 tokens: each bad token gets its 401 reason,
// /symbols follows the grant, a delayed client gets marked ticks at least
// 300 ms old, and a realtime bystander keeps every seq throughout.
func TestEntitlementsEndToEnd(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{
		"auth.mode":             "jwt",
		"auth.hmac_secret_file": writeSecret(t, testSecret),
		"entitlements.delay":    "300ms",
		"feed.sim.symbols":      yamlList("AAPL", "MSFT", "MSTR", "NVDA"),
	})
	tg.waitReady(t)
	mint := func(secret string, c auth.Claims) string {
		if c.Expires.IsZero() {
			c.Expires = time.Now().Add(time.Hour)
		}
		tok, err := auth.Mint([]byte(secret), c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	all := mint(testSecret, auth.Claims{Subject: "rt", Symbols: []string{"*"}, Tier: "realtime"})
	by := connect(t, tg, "?symbols=AAPL&token="+all)
	subscribed(by, "AAPL")
	seqs := seqCheck{}
	readSome := func() {
		t.Helper()
		for range 5 {
			if m := by.Next(); m.Type == "tick" {
				seqs.tick(t, m)
			}
		}
	}
	readSome()

	b64 := base64.RawURLEncoding.EncodeToString
	for _, tc := range []struct{ name, token, reason string }{
		{"expired", mint(testSecret, auth.Claims{Subject: "x", Symbols: []string{"*"}, Expires: time.Now().Add(-time.Hour)}), "expired"},
		{"not yet valid", mint(testSecret, auth.Claims{Subject: "x", Symbols: []string{"*"}, NotBefore: time.Now().Add(time.Hour)}), "not_yet_valid"},
		{"bad signature", mint(strings.Repeat("z", 32), auth.Claims{Subject: "x", Symbols: []string{"*"}}), "bad_signature"},
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64([]byte(`{"sub":"x","syms":["*"],"exp":9999999999}`)) + ".", "wrong_algorithm"},
		{"garbage", "garbage", "malformed"},
	} {
		code, body := get(tg.url + "/symbols?token=" + tc.token)
		var e struct{ Error string }
		json.Unmarshal([]byte(body), &e)
		if code != http.StatusUnauthorized || e.Error != tc.reason {
			t.Errorf("%s: /symbols %d %s, want 401 %s", tc.name, code, body, tc.reason)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := wstest.DialRaw(ctx, tg.ws+"?token="+tc.token, nil)
		cancel()
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: /ws upgrade not refused with 401: %v", tc.name, err)
		}
	}
	if code, _ := get(tg.url + "/symbols"); code != http.StatusUnauthorized {
		t.Errorf("/symbols without a token: %d, want 401", code)
	}
	narrow := mint(testSecret, auth.Claims{Subject: "n", Symbols: []string{"AAPL", "MS*"}, Tier: "realtime"})
	if code, body := get(tg.url + "/symbols?token=" + narrow); code != 200 || strings.TrimSpace(body) != `["AAPL","MSFT","MSTR"]` {
		t.Errorf("/symbols with a narrow token: %d %s", code, body)
	}
	readSome()

	late := mint(testSecret, auth.Claims{Subject: "d", Symbols: []string{"*"}, Tier: "delayed"})
	d := connect(t, tg, "?symbols=AAPL&token="+late)
	subscribed(d, "AAPL")
	for range 10 {
		m := d.Next()
		var tk struct {
			TS      int64 `json:"ts"`
			Delayed bool  `json:"delayed"`
		}
		json.Unmarshal(m.Raw, &tk)
		if age := time.Since(time.Unix(0, tk.TS)); m.Type != "tick" || !tk.Delayed || age < 300*time.Millisecond {
			t.Fatalf("delayed client got %s, %v after its ts; want delayed ticks at least 300ms old", m.Raw, age)
		}
	}
	readSome()
}
