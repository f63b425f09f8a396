package auth

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/subscribe"
)

// TestGrantClaims checks how the entitlement claims of a correctly signed
// token become a Grant, or bad_claims.
func TestGrantClaims(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		defaultTier string
		claims      jwt.MapClaims
		want        subscribe.Grant // Expires is checked against aliceExpires
		reason      string
	}{
		{name: "array", claims: alice().mapClaims(),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Tier: subscribe.Realtime, MaxConns: 3}},
		{name: "comma string", claims: mapWith(func(m jwt.MapClaims) { m["syms"] = " AAPL, MSFT,,BRK.B " }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MSFT", "BRK.B"}, Tier: subscribe.Realtime, MaxConns: 3}},
		{name: "star", claims: mapWith(func(m jwt.MapClaims) { m["syms"] = []string{"*"} }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"*"}, Tier: subscribe.Realtime, MaxConns: 3}},
		{name: "no tier means delayed", claims: mapWith(func(m jwt.MapClaims) { delete(m, "tier") }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Tier: subscribe.Delayed, MaxConns: 3}},
		{name: "no tier, default realtime", defaultTier: "realtime", claims: mapWith(func(m jwt.MapClaims) { delete(m, "tier") }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Tier: subscribe.Realtime, MaxConns: 3}},
		{name: "delayed", defaultTier: "realtime", claims: mapWith(func(m jwt.MapClaims) { m["tier"] = "delayed" }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Tier: subscribe.Delayed, MaxConns: 3}},
		{name: "no max_conns", claims: mapWith(func(m jwt.MapClaims) { delete(m, "max_conns") }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Tier: subscribe.Realtime}},
		{name: "streams", claims: mapWith(func(m jwt.MapClaims) { m["streams"] = []string{"ticks", "bars.1m", "status"} }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Streams: []fanout.Stream{fanout.Ticks, fanout.Bars1m, fanout.Status}, Tier: subscribe.Realtime, MaxConns: 3}},
		{name: "streams string", claims: mapWith(func(m jwt.MapClaims) { m["streams"] = "book, ticks" }),
			want: subscribe.Grant{Subject: "alice", Symbols: []string{"AAPL", "MS*"}, Streams: []fanout.Stream{fanout.Book, fanout.Ticks}, Tier: subscribe.Realtime, MaxConns: 3}},
		{name: "unknown stream", claims: mapWith(func(m jwt.MapClaims) { m["streams"] = []string{"ticks", "books"} }), reason: subscribe.AuthBadClaims},
		{name: "empty streams", claims: mapWith(func(m jwt.MapClaims) { m["streams"] = []string{} }), reason: subscribe.AuthBadClaims},
		{name: "streams not strings", claims: mapWith(func(m jwt.MapClaims) { m["streams"] = 3 }), reason: subscribe.AuthBadClaims},
		{name: "unknown tier", claims: mapWith(func(m jwt.MapClaims) { m["tier"] = "gold" }), reason: subscribe.AuthBadClaims},
		{name: "tier not a string", claims: mapWith(func(m jwt.MapClaims) { m["tier"] = 1 }), reason: subscribe.AuthBadClaims},
		{name: "no syms", claims: mapWith(func(m jwt.MapClaims) { delete(m, "syms") }), reason: subscribe.AuthBadClaims},
		{name: "empty syms", claims: mapWith(func(m jwt.MapClaims) { m["syms"] = []string{} }), reason: subscribe.AuthBadClaims},
		{name: "blank syms string", claims: mapWith(func(m jwt.MapClaims) { m["syms"] = " , " }), reason: subscribe.AuthBadClaims},
		{name: "syms not strings", claims: mapWith(func(m jwt.MapClaims) { m["syms"] = []int{1} }), reason: subscribe.AuthBadClaims},
		{name: "bad pattern", claims: mapWith(func(m jwt.MapClaims) { m["syms"] = []string{"AA[PL"} }), reason: subscribe.AuthBadClaims},
		{name: "no sub", claims: mapWith(func(m jwt.MapClaims) { delete(m, "sub") }), reason: subscribe.AuthBadClaims},
		{name: "negative max_conns", claims: mapWith(func(m jwt.MapClaims) { m["max_conns"] = -1 }), reason: subscribe.AuthBadClaims},
		{name: "fractional max_conns", claims: mapWith(func(m jwt.MapClaims) { m["max_conns"] = 2.5 }), reason: subscribe.AuthBadClaims},
		{name: "huge max_conns", claims: mapWith(func(m jwt.MapClaims) { m["max_conns"] = 1e12 }), reason: subscribe.AuthBadClaims},
		{name: "string max_conns", claims: mapWith(func(m jwt.MapClaims) { m["max_conns"] = "3" }), reason: subscribe.AuthBadClaims},
		{name: "exp not a number", claims: mapWith(func(m jwt.MapClaims) { m["exp"] = "tomorrow" }), reason: subscribe.AuthMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := New(Config{HMACSecret: sharedKeys().secret, DefaultTier: tc.defaultTier})
			if err != nil {
				t.Fatal(err)
			}
			g, err := v.Verify(sign(t, jwt.SigningMethodHS256, sharedKeys().secret, "", tc.claims))
			if tc.reason != "" {
				var ae *subscribe.AuthError
				if !errors.As(err, &ae) || ae.Reason != tc.reason {
					t.Fatalf("Verify = %+v, %v; want reason %s", g, err, tc.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !g.Expires.Equal(aliceExpires) {
				t.Errorf("Expires = %s, want %s", g.Expires, aliceExpires)
			}
			g.Expires = tc.want.Expires
			if g.Subject != tc.want.Subject || !slices.Equal(g.Symbols, tc.want.Symbols) || !slices.Equal(g.Streams, tc.want.Streams) || g.Tier != tc.want.Tier || g.MaxConns != tc.want.MaxConns {
				t.Errorf("grant = %+v, want %+v", g, tc.want)
			}
		})
	}
}

// TestNewRefuses checks that configurations that could never verify
// safely fail at start-up, with an error saying why.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	k := sharedKeys()
	rsaPEM := pemOf(t, k.rsa.Public())
	privPEM := []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n")
	cases := []struct {
		name string
		cfg  func(t *testing.T) Config
		want string // in the error
	}{
		{"alg none", func(*testing.T) Config { return Config{Algorithms: []string{"none"}, HMACSecret: k.secret} }, "never accepted"},
		{"alg None", func(*testing.T) Config { return Config{Algorithms: []string{"HS256", "None"}, HMACSecret: k.secret} }, "never accepted"},
		{"alg unknown", func(*testing.T) Config { return Config{Algorithms: []string{"HS1"}, HMACSecret: k.secret} }, `unknown algorithm "HS1"`},
		{"no keys at all", func(*testing.T) Config { return Config{} }, "HS256 has no HMAC key"},
		{"short secret", func(*testing.T) Config { return Config{HMACSecret: []byte("short")} }, "at least 32"},
		{"RS256 without RSA key", func(t *testing.T) Config {
			return Config{Algorithms: []string{"RS256"}, PublicKeyFiles: []string{writeFile(t, "ec.pem", pemOf(t, k.ec.Public()))}}
		}, "RS256 has no RSA key"},
		{"private key PEM", func(t *testing.T) Config {
			return Config{Algorithms: []string{"EdDSA"}, PublicKeyFiles: []string{writeFile(t, "priv.pem", privPEM)}}
		}, "public key only"},
		{"not PEM", func(t *testing.T) Config {
			return Config{Algorithms: []string{"RS256"}, PublicKeyFiles: []string{writeFile(t, "k.pem", []byte("hello"))}}
		}, "no PEM block"},
		{"missing PEM file", func(t *testing.T) Config {
			return Config{Algorithms: []string{"RS256"}, PublicKeyFiles: []string{t.TempDir() + "/nope.pem"}}
		}, "nope.pem"},
		{"missing JWKS file", func(t *testing.T) Config {
			return Config{Algorithms: []string{"RS256"}, JWKSFile: t.TempDir() + "/nope.json"}
		}, "nope.json"},
		{"JWKS not JSON", func(t *testing.T) Config {
			return Config{Algorithms: []string{"RS256"}, JWKSFile: writeFile(t, "jwks.json", rsaPEM)}
		}, "jwks"},
		{"JWKS symmetric key", func(t *testing.T) Config {
			return Config{Algorithms: []string{"HS256"}, HMACSecret: k.secret,
				JWKSFile: writeFile(t, "jwks.json", []byte(`{"keys":[{"kty":"oct","kid":"s","k":"c2VjcmV0"}]}`))}
		}, "symmetric"},
		{"JWKS only encryption keys", func(t *testing.T) Config {
			c := jwksConfig(t)
			c.JWKSFile = writeFile(t, "jwks.json", []byte(`{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`))
			return c
		}, "no signing keys"},
		{"JWKS duplicate kid", func(t *testing.T) Config {
			return Config{Algorithms: []string{"RS256"}, JWKSFile: writeJWKS(t, jwksKey{"a", "RS256", k.rsa.Public()}, jwksKey{"a", "RS256", k.rsa2.Public()})}
		}, "twice"},
		{"bad default tier", func(*testing.T) Config { return Config{HMACSecret: k.secret, DefaultTier: "gold"} }, "tier"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := New(tc.cfg(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, %v; want an error containing %q", v, err, tc.want)
			}
		})
	}
}

// TestPEMCertificateAndPKCS1 checks the other public key encodings a PEM
// file may hold: an X.509 certificate and a PKCS #1 "RSA PUBLIC KEY".
func TestPEMCertificateAndPKCS1(t *testing.T) {
	t.Parallel()
	k := sharedKeys()
	for name, data := range map[string][]byte{
		"certificate": certPEM(t, k.rsa),
		"pkcs1":       pkcs1PEM(k.rsa),
		"two blocks":  append(pemOf(t, k.rsa2.Public()), pemOf(t, k.rsa.Public())...),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			v, err := New(Config{Algorithms: []string{"RS256"}, PublicKeyFiles: []string{writeFile(t, "k.pem", data)}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(sign(t, jwt.SigningMethodRS256, k.rsa, "", alice().mapClaims())); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}
