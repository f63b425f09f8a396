package auth

import (
	"fmt"
	"strings"
	"time"
)

// DefaultLeeway is the clock skew allowed on exp and nbf when
// Config.Leeway is zero.
const DefaultLeeway = 5 * time.Second

// Config says which tokens a Verifier accepts. The zero value accepts
// nothing: New needs at least one key for every algorithm it allows.
type Config struct {
	// Algorithms are the JWT "alg" values accepted; a token naming any other
	// is refused with wrong_algorithm. Empty means ["HS256"]. "none" is
	// always refused.
	Algorithms []string
	// HMACSecret verifies HS256, HS384 and HS512 tokens, and only those. It
	// must hold at least 32 bytes (RFC 7518: the key is at least as long as
	// the hash). Empty means no HMAC key.
	HMACSecret []byte
	// PublicKeyFiles are PEM files of public keys ("PUBLIC KEY", "RSA PUBLIC
	// KEY") or certificates ("CERTIFICATE"): RSA keys verify RS* and PS*,
	// ECDSA keys ES*, Ed25519 keys EdDSA. Empty means none.
	PublicKeyFiles []string
	// JWKSFile is a local JSON Web Key Set file (an identity provider's
	// jwks_uri document, downloaded). Its keys are matched by the token's
	// "kid" header when it has one. Empty means none; nothing is fetched.
	JWKSFile string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be one of the token's "aud".
	Audience string
	// Leeway is the clock skew allowed on exp and nbf. Zero means
	// DefaultLeeway; a negative value means none.
	Leeway time.Duration
	// DefaultTier is the tier of a token without a "tier" claim: "realtime"
	// or "delayed". Empty means "delayed", the tier a licence allows more
	// freely.
	DefaultTier string
}

// family is the kind of key an algorithm verifies with. A token is only
// ever checked against keys of its algorithm's family, so an HS256 token
// can never be verified with an RSA public key used as an HMAC secret.
type family uint8

const (
	familyHMAC family = iota + 1
	familyRSA
	familyECDSA
	familyEd25519
)

func (f family) String() string {
	switch f {
	case familyHMAC:
		return "HMAC"
	case familyRSA:
		return "RSA"
	case familyECDSA:
		return "ECDSA"
	case familyEd25519:
		return "Ed25519"
	}
	return "unknown"
}

// families maps every algorithm the verifier knows to its key family.
var families = map[string]family{
	"HS256": familyHMAC, "HS384": familyHMAC, "HS512": familyHMAC,
	"RS256": familyRSA, "RS384": familyRSA, "RS512": familyRSA,
	"PS256": familyRSA, "PS384": familyRSA, "PS512": familyRSA,
	"ES256": familyECDSA, "ES384": familyECDSA, "ES512": familyECDSA,
	"EdDSA": familyEd25519,
}

// KnownAlgorithm reports whether alg is one Config.Algorithms may list.
func KnownAlgorithm(alg string) bool {
	_, ok := families[alg]
	return ok
}

// MinHMACSecret is the shortest HMAC secret New accepts, in bytes.
const MinHMACSecret = 32

// algorithms returns the configured algorithms, checked, as a set.
func (c *Config) algorithms() (map[string]family, error) {
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = []string{"HS256"}
	}
	set := make(map[string]family, len(algs))
	for _, alg := range algs {
		if strings.EqualFold(alg, "none") {
			return nil, fmt.Errorf("auth: algorithm %q is never accepted: a token without a signature proves nothing", alg)
		}
		f, ok := families[alg]
		if !ok {
			return nil, fmt.Errorf("auth: unknown algorithm %q (want HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA)", alg)
		}
		set[alg] = f
	}
	return set, nil
}

// leeway returns the effective clock skew allowance.
func (c *Config) leeway() time.Duration {
	switch {
	case c.Leeway == 0:
		return DefaultLeeway
	case c.Leeway < 0:
		return 0
	}
	return c.Leeway
}
