package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tickgate/tickgate/subscribe"
)

// aliceExpires is fixed once, so tokens and the grants expected of them
// agree on exp whenever they are built.
var aliceExpires = time.Now().Add(time.Hour).Truncate(time.Second)

// alice is a realtime grant for two patterns, an hour long.
func alice() Claims {
	return Claims{
		Subject:  "alice",
		Symbols:  []string{"AAPL", "MS*"},
		Tier:     "realtime",
		MaxConns: 3,
		Expires:  aliceExpires,
	}
}

// with returns alice's claims changed by f.
func with(f func(*Claims)) jwt.MapClaims {
	c := alice()
	f(&c)
	return c.mapClaims()
}

// mapWith returns alice's claims as a map changed by f, for claims Claims
// cannot express.
func mapWith(f func(jwt.MapClaims)) jwt.MapClaims {
	m := alice().mapClaims()
	f(m)
	return m
}

type verifyCase struct {
	name   string
	cfg    func(t *testing.T) Config
	token  func(t *testing.T) string
	reason string                            // "" expects a grant
	check  func(*testing.T, subscribe.Grant) // optional, on success
}

func hmacConfig(t *testing.T) Config { return Config{HMACSecret: sharedKeys().secret} }

func pemConfig(alg string, pub func(testKeys) any) func(t *testing.T) Config {
	return func(t *testing.T) Config {
		path := writeFile(t, "key.pem", pemOf(t, pub(sharedKeys())))
		return Config{Algorithms: []string{alg}, PublicKeyFiles: []string{path}}
	}
}

// jwksConfig serves the RSA, ECDSA and Ed25519 keys from one JWKS file.
func jwksConfig(t *testing.T) Config {
	k := sharedKeys()
	path := writeJWKS(t,
		jwksKey{"rsa-1", "RS256", k.rsa.Public()},
		jwksKey{"ec-1", "ES256", k.ec.Public()},
		jwksKey{"ed-1", "EdDSA", k.ed.Public()},
	)
	return Config{Algorithms: []string{"RS256", "ES256", "EdDSA"}, JWKSFile: path}
}

func hs256(c jwt.Claims) func(t *testing.T) string {
	return func(t *testing.T) string { return sign(t, jwt.SigningMethodHS256, sharedKeys().secret, "", c) }
}

func signedBy(m jwt.SigningMethod, key func(testKeys) any, kid string, c jwt.Claims) func(t *testing.T) string {
	return func(t *testing.T) string { return sign(t, m, key(sharedKeys()), kid, c) }
}

func literal(s string) func(t *testing.T) string { return func(*testing.T) string { return s } }

var (
	rsaPriv  = func(k testKeys) any { return k.rsa }
	rsaPub   = func(k testKeys) any { return k.rsa.Public() }
	rsa2Priv = func(k testKeys) any { return k.rsa2 }
	ecPriv   = func(k testKeys) any { return k.ec }
	ecPub    = func(k testKeys) any { return k.ec.Public() }
	edPriv   = func(k testKeys) any { return k.ed }
	edPub    = func(k testKeys) any { return k.ed.Public() }
)

func TestVerify(t *testing.T) {
	t.Parallel()
	valid := alice().mapClaims()
	cases := []verifyCase{
		{name: "HS256", cfg: hmacConfig, token: hs256(valid), check: wantAlice},
		{name: "RS256 PEM", cfg: pemConfig("RS256", rsaPub), token: signedBy(jwt.SigningMethodRS256, rsaPriv, "", valid), check: wantAlice},
		{name: "PS256 PEM", cfg: pemConfig("PS256", rsaPub), token: signedBy(jwt.SigningMethodPS256, rsaPriv, "", valid), check: wantAlice},
		{name: "ES256 PEM", cfg: pemConfig("ES256", ecPub), token: signedBy(jwt.SigningMethodES256, ecPriv, "", valid), check: wantAlice},
		{name: "EdDSA PEM", cfg: pemConfig("EdDSA", edPub), token: signedBy(jwt.SigningMethodEdDSA, edPriv, "", valid), check: wantAlice},
		{name: "RS256 JWKS", cfg: jwksConfig, token: signedBy(jwt.SigningMethodRS256, rsaPriv, "rsa-1", valid), check: wantAlice},
		{name: "ES256 JWKS", cfg: jwksConfig, token: signedBy(jwt.SigningMethodES256, ecPriv, "ec-1", valid), check: wantAlice},
		{name: "EdDSA JWKS", cfg: jwksConfig, token: signedBy(jwt.SigningMethodEdDSA, edPriv, "ed-1", valid), check: wantAlice},
		{name: "JWKS without kid", cfg: jwksConfig, token: signedBy(jwt.SigningMethodES256, ecPriv, "", valid), check: wantAlice},
		{name: "JWKS unknown kid", cfg: jwksConfig, token: signedBy(jwt.SigningMethodRS256, rsa2Priv, "rsa-2", valid), reason: subscribe.AuthBadSignature},
		{name: "JWKS kid of another RSA key", cfg: jwksConfig, token: signedBy(jwt.SigningMethodRS256, rsa2Priv, "rsa-1", valid), reason: subscribe.AuthBadSignature},
		{name: "JWKS alg differs from the key's", cfg: func(t *testing.T) Config {
			c := jwksConfig(t)
			c.Algorithms = append(c.Algorithms, "RS512")
			return c
		}, token: signedBy(jwt.SigningMethodRS512, rsaPriv, "rsa-1", valid), reason: subscribe.AuthWrongAlgorithm},
		{name: "JWKS kid of another family", cfg: jwksConfig, token: signedBy(jwt.SigningMethodRS256, rsaPriv, "ec-1", valid), reason: subscribe.AuthWrongAlgorithm},
		{name: "expired", cfg: hmacConfig, token: hs256(with(func(c *Claims) { c.Expires = time.Now().Add(-time.Minute) })), reason: subscribe.AuthExpired},
		{name: "expired within leeway", cfg: hmacConfig, token: hs256(with(func(c *Claims) { c.Expires = time.Now().Add(-time.Second) }))},
		{name: "no exp", cfg: hmacConfig, token: hs256(with(func(c *Claims) { c.Expires = time.Time{} })), reason: subscribe.AuthBadClaims},
		{name: "not yet valid", cfg: hmacConfig, token: hs256(with(func(c *Claims) { c.NotBefore = time.Now().Add(time.Minute) })), reason: subscribe.AuthNotYetValid},
		{name: "nbf within leeway", cfg: hmacConfig, token: hs256(with(func(c *Claims) { c.NotBefore = time.Now().Add(2 * time.Second) }))},
		{name: "bad signature HS256", cfg: hmacConfig, token: func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two bytes!"), "", valid)
		}, reason: subscribe.AuthBadSignature},
		{name: "bad signature RS256", cfg: pemConfig("RS256", rsaPub), token: signedBy(jwt.SigningMethodRS256, rsa2Priv, "", valid), reason: subscribe.AuthBadSignature},
		{name: "tampered payload", cfg: hmacConfig, token: func(t *testing.T) string {
			good := hs256(valid)(t)
			other := hs256(with(func(c *Claims) { c.Symbols = []string{"*"} }))(t)
			return splitJWT(good)[0] + "." + splitJWT(other)[1] + "." + splitJWT(good)[2]
		}, reason: subscribe.AuthBadSignature},
		{name: "alg none", cfg: hmacConfig, token: func(t *testing.T) string {
			return sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", valid)
		}, reason: subscribe.AuthWrongAlgorithm},
		{name: "alg not configured", cfg: hmacConfig, token: func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS512, sharedKeys().secret, "", valid)
		}, reason: subscribe.AuthWrongAlgorithm},
		{name: "alg unknown", cfg: hmacConfig, token: literal(b64(`{"alg":"XX256","typ":"JWT"}`) + "." + b64(`{"sub":"alice"}`) + ".c2ln"), reason: subscribe.AuthWrongAlgorithm},
		{name: "alg absent", cfg: hmacConfig, token: literal(b64(`{"typ":"JWT"}`) + "." + b64(`{"sub":"alice"}`) + ".c2ln"), reason: subscribe.AuthMalformed},
		// Key confusion: the attacker signs HS256 with the RSA public key's PEM
		// as the HMAC secret. With RS256 pinned, HS256 is not an allowed
		// algorithm at all: wrong_algorithm.
		{name: "key confusion RS256 pinned", cfg: pemConfig("RS256", rsaPub), token: func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, pemOf(t, sharedKeys().rsa.Public()), "", valid)
		}, reason: subscribe.AuthWrongAlgorithm},
		// With HS256 allowed too, the token reaches verification, but HS256
		// is only ever checked against the HMAC secret, never the RSA key:
		// bad_signature.
		{name: "key confusion HS256 also allowed", cfg: func(t *testing.T) Config {
			c := pemConfig("RS256", rsaPub)(t)
			c.Algorithms = append(c.Algorithms, "HS256")
			c.HMACSecret = sharedKeys().secret
			return c
		}, token: func(t *testing.T) string {
			return sign(t, jwt.SigningMethodHS256, pemOf(t, sharedKeys().rsa.Public()), "", valid)
		}, reason: subscribe.AuthBadSignature},
		{name: "garbage", cfg: hmacConfig, token: literal("not a token"), reason: subscribe.AuthMalformed},
		{name: "garbage segments", cfg: hmacConfig, token: literal("a.b.c"), reason: subscribe.AuthMalformed},
		{name: "garbage from docs/auth.md", cfg: hmacConfig, token: literal("not.a.token"), reason: subscribe.AuthMalformed},
		{name: "garbage bytes", cfg: hmacConfig, token: literal("\x00\xff.\n.\t"), reason: subscribe.AuthMalformed},
		{name: "missing", cfg: hmacConfig, token: literal(""), reason: subscribe.AuthMissing},
		{name: "issuer ok", cfg: issuerConfig, token: hs256(with(func(c *Claims) { c.Issuer = "https://idp.example"; c.Audience = "tickgate" })), check: wantAlice},
		{name: "wrong issuer", cfg: issuerConfig, token: hs256(with(func(c *Claims) { c.Issuer = "https://evil.example"; c.Audience = "tickgate" })), reason: subscribe.AuthBadClaims},
		{name: "no issuer", cfg: issuerConfig, token: hs256(with(func(c *Claims) { c.Audience = "tickgate" })), reason: subscribe.AuthBadClaims},
		{name: "wrong audience", cfg: issuerConfig, token: hs256(with(func(c *Claims) { c.Issuer = "https://idp.example"; c.Audience = "other" })), reason: subscribe.AuthBadClaims},
		{name: "audience in a list", cfg: issuerConfig, token: hs256(mapWith(func(m jwt.MapClaims) {
			m["iss"], m["aud"] = "https://idp.example", []string{"other", "tickgate"}
		})), check: wantAlice},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runVerifyCase(t, tc)
		})
	}
}

func issuerConfig(t *testing.T) Config {
	c := hmacConfig(t)
	c.Issuer, c.Audience = "https://idp.example", "tickgate"
	return c
}

// runVerifyCase builds the verifier, verifies the token and checks the
// outcome: a grant, or an *AuthError with the expected reason.
func runVerifyCase(t *testing.T, tc verifyCase) {
	t.Helper()
	v, err := New(tc.cfg(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	g, err := v.Verify(tc.token(t))
	if tc.reason == "" {
		if err != nil {
			t.Fatalf("Verify: %v, want a grant", err)
		}
		if tc.check != nil {
			tc.check(t, g)
		}
		return
	}
	var ae *subscribe.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Verify = %+v, %v; want *AuthError %s", g, err, tc.reason)
	}
	if ae.Reason != tc.reason {
		t.Errorf("reason = %s (%v), want %s", ae.Reason, err, tc.reason)
	}
	if g.Subject != "" || g.Symbols != nil {
		t.Errorf("refused token still returned grant %+v", g)
	}
}

func wantAlice(t *testing.T, g subscribe.Grant) {
	t.Helper()
	want := alice()
	if g.Subject != "alice" || !slices.Equal(g.Symbols, want.Symbols) || g.Tier != subscribe.Realtime || g.MaxConns != 3 {
		t.Errorf("grant = %+v, want alice realtime %v max 3", g, want.Symbols)
	}
	if !g.Expires.Equal(want.Expires) {
		t.Errorf("grant expires %s, want %s", g.Expires, want.Expires)
	}
}

func splitJWT(s string) [3]string {
	var parts [3]string
	for i := range 2 {
		for j := 0; j < len(s); j++ {
			if s[j] == '.' {
				parts[i], s = s[:j], s[j+1:]
				break
			}
		}
	}
	parts[2] = s
	return parts
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestRefusalQuotesNoToken: where a token carries a value this package
// reads (alg, kid, tier, syms, max_conns), the refusal's error names
// what is wanted and quotes none of it, so neither a log line nor a
// careless caller can echo a client's bytes.
func TestRefusalQuotesNoToken(t *testing.T) {
	t.Parallel()
	const mark = "Zq9ECHO"
	cases := []verifyCase{
		{name: "alg", cfg: hmacConfig, token: literal(b64(`{"alg":"`+mark+`"}`) + "." + b64(`{"sub":"alice"}`) + ".c2ln"), reason: subscribe.AuthWrongAlgorithm},
		{name: "alg not configured", cfg: hmacConfig, token: literal(b64(`{"alg":"HS384","kid":"`+mark+`"}`) + "." + b64(`{"sub":"alice"}`) + ".c2ln"), reason: subscribe.AuthWrongAlgorithm},
		{name: "kid of another family", cfg: jwksConfig, token: signedBy(jwt.SigningMethodRS256, rsaPriv, "ec-1", alice().mapClaims()), reason: subscribe.AuthWrongAlgorithm},
		{name: "tier", cfg: hmacConfig, token: hs256(mapWith(func(m jwt.MapClaims) { m["tier"] = mark })), reason: subscribe.AuthBadClaims},
		{name: "syms", cfg: hmacConfig, token: hs256(mapWith(func(m jwt.MapClaims) { m["syms"] = []string{"[" + mark} })), reason: subscribe.AuthBadClaims},
		{name: "max_conns", cfg: hmacConfig, token: hs256(mapWith(func(m jwt.MapClaims) { m["max_conns"] = mark })), reason: subscribe.AuthBadClaims},
		{name: "max_conns number", cfg: hmacConfig, token: hs256(mapWith(func(m jwt.MapClaims) { m["max_conns"] = 987654321987 })), reason: subscribe.AuthBadClaims},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runVerifyCase(t, tc)
			v, err := New(tc.cfg(t))
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(tc.token(t))
			if msg := fmt.Sprint(err); strings.Contains(msg, mark) || strings.Contains(msg, "987654321987") || strings.Contains(msg, "ec-1") {
				t.Errorf("error %q quotes the token", msg)
			}
		})
	}
}

// TestVerifyConcurrent shares one Verifier between goroutines, as the
// gateway's HTTP handlers do; -race checks the claim in the doc comment.
func TestVerifyConcurrent(t *testing.T) {
	t.Parallel()
	k := sharedKeys()
	v, err := New(Config{Algorithms: []string{"HS256", "EdDSA"}, HMACSecret: k.secret,
		PublicKeyFiles: []string{writeFile(t, "ed.pem", pemOf(t, k.ed.Public()))}})
	if err != nil {
		t.Fatal(err)
	}
	tokens := []string{
		sign(t, jwt.SigningMethodHS256, k.secret, "", alice().mapClaims()),
		sign(t, jwt.SigningMethodEdDSA, k.ed, "", alice().mapClaims()),
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := v.Verify(tokens[i%2]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
