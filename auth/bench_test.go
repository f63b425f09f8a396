package auth

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify measures one admission check per algorithm family: the
// cost a connection pays once, and again per refresh.
func BenchmarkVerify(b *testing.B) {
	k := sharedKeys()
	cfg := Config{
		Algorithms:     []string{"HS256", "RS256", "ES256", "EdDSA"},
		HMACSecret:     k.secret,
		PublicKeyFiles: []string{writeFile(b, "rsa.pem", pemOf(b, k.rsa.Public())), writeFile(b, "ec.pem", pemOf(b, k.ec.Public())), writeFile(b, "ed.pem", pemOf(b, k.ed.Public()))},
	}
	v, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		method jwt.SigningMethod
		key    any
	}{
		{"HS256", jwt.SigningMethodHS256, k.secret},
		{"RS256", jwt.SigningMethodRS256, k.rsa},
		{"ES256", jwt.SigningMethodES256, k.ec},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed},
	} {
		token := sign(b, bc.method, bc.key, "", alice().mapClaims())
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
