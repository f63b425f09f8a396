package auth

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tickgate/tickgate/subscribe"
)

// Verifier checks JWTs against keys and algorithms fixed by its Config.
// It is safe for concurrent use.
type Verifier struct {
	algs   map[string]family
	hmac   []byte
	keys   map[family][]publicKey
	byKid  map[string]publicKey
	parser *jwt.Parser
	tier   subscribe.Tier
}

var _ subscribe.Verifier = (*Verifier)(nil)

// New loads the keys cfg names and checks that every allowed algorithm has
// at least one key of its family.
func New(cfg Config) (*Verifier, error) {
	algs, err := cfg.algorithms()
	if err != nil {
		return nil, err
	}
	tier := subscribe.Delayed
	if cfg.DefaultTier != "" {
		if tier, err = subscribe.ParseTier(cfg.DefaultTier); err != nil {
			return nil, fmt.Errorf("auth: default tier: %w", err)
		}
	}
	v := &Verifier{algs: algs, tier: tier, keys: make(map[family][]publicKey), byKid: make(map[string]publicKey)}
	if len(cfg.HMACSecret) > 0 {
		if len(cfg.HMACSecret) < MinHMACSecret {
			return nil, fmt.Errorf("auth: HMAC secret is %d bytes, want at least %d", len(cfg.HMACSecret), MinHMACSecret)
		}
		v.hmac = append([]byte(nil), cfg.HMACSecret...)
	}
	if err := v.loadKeys(cfg); err != nil {
		return nil, err
	}
	for alg, f := range algs {
		if f == familyHMAC && v.hmac == nil || f != familyHMAC && len(v.keys[f]) == 0 {
			return nil, fmt.Errorf("auth: algorithm %s has no %s key configured", alg, f)
		}
	}
	opts := []jwt.ParserOption{
		jwt.WithLeeway(cfg.leeway()),
		jwt.WithExpirationRequired(),
		jwt.WithJSONNumber(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// loadKeys reads the PEM files and the JWKS file, indexing JWKS keys by kid.
func (v *Verifier) loadKeys(cfg Config) error {
	var all []publicKey
	for _, path := range cfg.PublicKeyFiles {
		keys, err := loadPEM(path)
		if err != nil {
			return err
		}
		all = append(all, keys...)
	}
	if cfg.JWKSFile != "" {
		keys, err := loadJWKS(cfg.JWKSFile)
		if err != nil {
			return err
		}
		all = append(all, keys...)
	}
	for _, k := range all {
		v.keys[k.family] = append(v.keys[k.family], k)
		if k.kid == "" {
			continue
		}
		if _, dup := v.byKid[k.kid]; dup {
			return fmt.Errorf("auth: jwks: kid %q appears twice", k.kid)
		}
		v.byKid[k.kid] = k
	}
	return nil
}

// Verify checks token's algorithm, signature, exp, nbf, iss and aud, then
// reads its grant. Every refusal is a *subscribe.AuthError.
func (v *Verifier) Verify(token string) (subscribe.Grant, error) {
	if token == "" {
		return subscribe.Grant{}, &subscribe.AuthError{Reason: subscribe.AuthMissing}
	}
	var c claims
	parsed, err := v.parser.ParseWithClaims(token, &c, v.keyFor)
	if err != nil {
		return subscribe.Grant{}, &subscribe.AuthError{Reason: reasonOf(parsed, err), Err: err}
	}
	g, err := c.grant(v.tier)
	if err != nil {
		return subscribe.Grant{}, &subscribe.AuthError{Reason: subscribe.AuthBadClaims, Err: err}
	}
	return g, nil
}

var (
	errAlgorithm = errors.New("auth: algorithm not allowed")
	errNoKey     = errors.New("auth: no key for this token")
)

// keyFor picks the keys a token may be verified with. The algorithm comes
// from the configured set, never from the token alone: the token's alg
// only selects among keys the configuration allows for it. Its errors
// quote nothing of the token (alg, kid): they name configured things only.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	f, ok := v.algs[alg]
	if !ok {
		return nil, errAlgorithm
	}
	if f == familyHMAC {
		return v.hmac, nil
	}
	if kid, _ := t.Header["kid"].(string); kid != "" {
		if k, ok := v.byKid[kid]; ok {
			if k.family != f || k.alg != "" && k.alg != alg {
				return nil, fmt.Errorf("%w: the key the token's kid names is a %s key for %q", errAlgorithm, k.family, k.alg)
			}
			return k.key, nil
		}
	}
	// No kid, or one no key carries (say, rotated out): try every key of
	// the family; none of them can be of the wrong kind.
	var set jwt.VerificationKeySet
	for _, k := range v.keys[f] {
		if k.alg == "" || k.alg == alg {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("%w (alg %s)", errNoKey, alg)
	}
	return set, nil
}

// reasonOf maps a jwt parse error to an AuthError reason.
func reasonOf(t *jwt.Token, err error) string {
	switch {
	case errors.Is(err, errAlgorithm):
		return subscribe.AuthWrongAlgorithm
	case errors.Is(err, errNoKey), errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return subscribe.AuthBadSignature
	case errors.Is(err, jwt.ErrTokenMalformed):
		return subscribe.AuthMalformed
	case errors.Is(err, jwt.ErrTokenExpired):
		return subscribe.AuthExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return subscribe.AuthNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return subscribe.AuthBadClaims
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		// The header names no algorithm jwt knows ("alg":"XYZ") or none at all.
		if t != nil && t.Header != nil {
			if _, ok := t.Header["alg"].(string); ok {
				return subscribe.AuthWrongAlgorithm
			}
		}
	}
	return subscribe.AuthMalformed
}
