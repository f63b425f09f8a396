package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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

// TestAuthRefusalEchoesNothing: tokens that carry a marker where a
// verifier might quote it (an unknown alg, a kid, bad claims, broken
// JSON) get a 401 of two fields, the reason and a fixed message, on
// /symbols and on the /ws upgrade alike: none of the token comes back.
func TestAuthRefusalEchoesNothing(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, map[string]string{
		"auth.mode":             "jwt",
		"auth.hmac_secret_file": writeSecret(t, testSecret),
	})
	tg.waitReady(t)
	const mark = "Zq9ECHO"
	b64 := base64.RawURLEncoding.EncodeToString
	exp := time.Now().Add(time.Hour).Unix()
	signed := func(header map[string]any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		maps.Copy(tok.Header, header)
		s, err := tok.SignedString([]byte(testSecret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	payload := b64([]byte(`{"sub":"x","syms":["*"],"exp":9999999999}`))
	cases := []struct{ name, token, reason string }{
		{"garbage", mark, "malformed"},
		{"broken header JSON", b64([]byte(`{`+mark)) + "." + payload + ".c2ln", "malformed"},
		{"unknown alg", b64([]byte(`{"alg":"`+mark+`","typ":"JWT"}`)) + "." + payload + ".c2ln", "wrong_algorithm"},
		{"alg not allowed, kid", b64([]byte(`{"alg":"HS384","kid":"`+mark+`"}`)) + "." + payload + ".c2ln", "wrong_algorithm"},
		{"tier", signed(nil, jwt.MapClaims{"sub": "x", "syms": []string{"*"}, "exp": exp, "tier": mark}), "bad_claims"},
		{"syms pattern", signed(nil, jwt.MapClaims{"sub": "x", "syms": []string{"[" + mark}, "exp": exp}), "bad_claims"},
		{"max_conns", signed(nil, jwt.MapClaims{"sub": "x", "syms": []string{"*"}, "exp": exp, "max_conns": mark}), "bad_claims"},
		{"kid on a good signature, sub missing", signed(map[string]any{"kid": mark}, jwt.MapClaims{"syms": []string{"*"}, "exp": exp}), "bad_claims"},
	}
	msgs := map[string]string{} // reason -> the one message it gets
	check := func(name, where string, code int, body []byte, reason string) {
		t.Helper()
		var fields map[string]string
		if err := json.Unmarshal(body, &fields); err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s, %s: %d %s, want 401 and a JSON body", name, where, code, body)
			return
		}
		if len(fields) != 2 || fields["error"] != reason || fields["msg"] == "" {
			t.Errorf("%s, %s: body %s, want exactly error %q and a msg", name, where, body, reason)
		}
		if strings.Contains(string(body), mark) {
			t.Errorf("%s, %s: body %s echoes the token", name, where, body)
		}
		if m, seen := msgs[reason]; seen && m != fields["msg"] {
			t.Errorf("%s, %s: msg %q, another %s token got %q: a msg must not depend on the token", name, where, fields["msg"], reason, m)
		}
		msgs[reason] = fields["msg"]
	}
	for _, c := range cases {
		q := "?token=" + url.QueryEscape(c.token)
		code, body := get(tg.url + "/symbols" + q)
		check(c.name, "/symbols", code, []byte(body), c.reason)

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, resp, err := wstest.DialRaw(ctx, tg.ws+q, nil)
		cancel()
		if err == nil || resp == nil {
			t.Errorf("%s: /ws upgrade not refused: %v", c.name, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		check(c.name, "/ws", resp.StatusCode, b, c.reason)
	}
}
