package auth

import (
	"errors"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tickgate/tickgate/subscribe"
)

// FuzzVerify feeds arbitrary strings to a verifier holding every kind of
// key. Verify must never panic, and must return either a grant with a
// subject and patterns or an *AuthError with one of the known reasons.
func FuzzVerify(f *testing.F) {
	k := sharedKeys()
	v, err := New(Config{
		Algorithms:     []string{"HS256", "RS256", "PS256", "ES256", "EdDSA"},
		HMACSecret:     k.secret,
		PublicKeyFiles: []string{writeFile(f, "rsa.pem", pemOf(f, k.rsa.Public())), writeFile(f, "ec.pem", pemOf(f, k.ec.Public()))},
		JWKSFile:       writeJWKS(f, jwksKey{"ed-1", "EdDSA", k.ed.Public()}),
	})
	if err != nil {
		f.Fatal(err)
	}
	valid := alice().mapClaims()
	for _, seed := range []string{
		"",
		"a.b.c",
		"....",
		sign(f, jwt.SigningMethodHS256, k.secret, "", valid),
		sign(f, jwt.SigningMethodRS256, k.rsa, "", valid),
		sign(f, jwt.SigningMethodES256, k.ec, "", valid),
		sign(f, jwt.SigningMethodEdDSA, k.ed, "ed-1", valid),
		sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", valid),
		b64(`{"alg":"HS256","kid":7}`) + "." + b64(`{"sub":"x","syms":"A*","exp":1e30,"max_conns":-0}`) + ".",
		b64(`{"alg":"RS256","kid":"ed-1"}`) + "." + b64(`{"syms":[null],"tier":{}}`) + ".AAAA",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		g, err := v.Verify(token)
		if err == nil {
			if g.Subject == "" || len(g.Symbols) == 0 {
				t.Fatalf("Verify(%q) accepted an empty grant %+v", token, g)
			}
			return
		}
		var ae *subscribe.AuthError
		if !errors.As(err, &ae) || !slices.Contains(subscribe.AuthReasons, ae.Reason) {
			t.Fatalf("Verify(%q) = %v, want an *AuthError with a known reason", token, err)
		}
	})
}
