// Package auth verifies JSON Web Tokens for the gateway's admission: it
// implements subscribe.Verifier with github.com/golang-jwt/jwt/v5, turning a
// signed token's claims (sub, syms, tier, max_conns, exp) into a
// subscribe.Grant. cmd/gateway builds one Verifier from config at start-up;
// the algorithms and keys are fixed then and never taken from a token. A
// Verifier is immutable after New, so any number of goroutines may call
// Verify at once. Mint signs HS256 tokens for "gateway token" and tests.
package auth
