package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what Mint signs. Zero fields are left out of the token.
type Claims struct {
	Subject   string
	Symbols   []string // the syms claim: glob patterns
	Streams   []string // the streams claim: stream names; nil for every stream
	Tier      string   // "realtime" or "delayed"
	MaxConns  int
	Issuer    string
	Audience  string
	IssuedAt  time.Time
	NotBefore time.Time
	Expires   time.Time
}

// mapClaims renders c as the JWT payload Verify reads.
func (c Claims) mapClaims() jwt.MapClaims {
	m := jwt.MapClaims{}
	put := func(k string, v any, ok bool) {
		if ok {
			m[k] = v
		}
	}
	put("sub", c.Subject, c.Subject != "")
	put("syms", c.Symbols, c.Symbols != nil)
	put("streams", c.Streams, c.Streams != nil)
	put("tier", c.Tier, c.Tier != "")
	put("max_conns", c.MaxConns, c.MaxConns != 0)
	put("iss", c.Issuer, c.Issuer != "")
	put("aud", c.Audience, c.Audience != "")
	put("iat", jwt.NewNumericDate(c.IssuedAt), !c.IssuedAt.IsZero())
	put("nbf", jwt.NewNumericDate(c.NotBefore), !c.NotBefore.IsZero())
	put("exp", jwt.NewNumericDate(c.Expires), !c.Expires.IsZero())
	return m
}

// Mint signs c as an HS256 token with secret, for "gateway token" and
// tests. Production tokens come from an identity provider.
func Mint(secret []byte, c Claims) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: mint: empty HMAC secret")
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c.mapClaims()).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint: %w", err)
	}
	return s, nil
}
