// Package auth verifies JSON Web Tokens for the gateway's admission: it
// implements subscribe.Verifier with github.com/golang-jwt/jwt/v5, turning
// a token's claims (sub, syms, tier, max_conns, exp) into a subscribe.Grant.
// cmd/gateway builds one Verifier from config at start-up; algorithms and
// keys are fixed then, never taken from a token. A Verifier is immutable
// after New, so any number of goroutines may call Verify at once.
package auth
