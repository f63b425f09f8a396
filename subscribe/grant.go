package subscribe

import (
	"errors"
	"path"
	"time"
)

// Tier is the licence a grant carries for the ticks it may see.
type Tier uint8

const (
	// Realtime sees every tick as it arrives.
	Realtime Tier = iota
	// Delayed sees each tick a fixed delay after its feed timestamp.
	Delayed
)

func (t Tier) String() string {
	if t == Delayed {
		return "delayed"
	}
	return "realtime"
}

// ParseTier reads "realtime" or "delayed".
func ParseTier(s string) (Tier, error) {
	switch s {
	case "realtime":
		return Realtime, nil
	case "delayed":
		return Delayed, nil
	}
	return 0, errors.New(`subscribe: tier must be "realtime" or "delayed"`)
}

// Grant is what one authenticated client may see. The Verifier that
// cmd/gateway wires (auth/, for JWTs) builds it from a token; subscribe
// knows nothing of tokens beyond the string.
type Grant struct {
	// Subject names who the grant is for (a JWT's sub); MaxConns counts
	// per subject.
	Subject string
	// Symbols are glob patterns (path.Match: "*", "AAPL", "MS*") of the
	// symbols the subject may see; nil allows none.
	Symbols []string
	// Tier is realtime or delayed.
	Tier Tier
	// MaxConns caps the subject's concurrent connections; 0 means no cap.
	MaxConns int
	// Expires is when the grant ends; zero means never.
	Expires time.Time
}

// Allows reports whether the grant covers sym.
func (g *Grant) Allows(sym string) bool {
	for _, p := range g.Symbols {
		if ok, _ := path.Match(p, sym); ok {
			return true
		}
	}
	return false
}

// Verifier turns a bearer token into a Grant. Verify returns an
// *AuthError when the token is refused.
type Verifier interface {
	Verify(token string) (Grant, error)
}

// AuthError is a refused token. Reason is one of the AuthReason values: it
// is the "error" of the 401 body, the 4003 close text and the label of
// tickgate_auth_failures_total.
type AuthError struct {
	Reason string
	Err    error // the underlying cause, for logs
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return "subscribe: token " + e.Reason + ": " + e.Err.Error()
	}
	return "subscribe: token " + e.Reason
}

func (e *AuthError) Unwrap() error { return e.Err }

// Reasons a token is refused.
const (
	AuthMissing        = "missing"
	AuthMalformed      = "malformed"
	AuthExpired        = "expired"
	AuthNotYetValid    = "not_yet_valid"
	AuthBadSignature   = "bad_signature"
	AuthWrongAlgorithm = "wrong_algorithm"
	AuthBadClaims      = "bad_claims" // iss, aud, tier or syms not acceptable
)

// AuthReasons lists every reason, for metric labels.
var AuthReasons = []string{AuthMissing, AuthMalformed, AuthExpired, AuthNotYetValid, AuthBadSignature, AuthWrongAlgorithm, AuthBadClaims}
