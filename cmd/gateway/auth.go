package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/tickgate/tickgate/auth"
	"github.com/tickgate/tickgate/subscribe"
)

// newVerifier builds the token verifier auth.mode asks for: nil for none,
// an auth.Verifier over the configured keys for jwt. Its errors name the
// config key at fault.
func newVerifier(cfg *Config) (subscribe.Verifier, error) {
	a := &cfg.Auth
	if a.Mode != "jwt" {
		return nil, nil
	}
	secret, err := hmacSecret(a)
	if err != nil && !errors.Is(err, errNoSecret) {
		return nil, err
	}
	leeway := a.Leeway
	if leeway == 0 {
		leeway = -1 // 0s in config.yaml means none; auth reads zero as its default
	}
	v, err := auth.New(auth.Config{
		Algorithms:     a.Algorithms,
		HMACSecret:     secret,
		PublicKeyFiles: a.PublicKeys,
		JWKSFile:       a.JWKSFile,
		Issuer:         a.Issuer,
		Audience:       a.Audience,
		Leeway:         leeway,
		DefaultTier:    a.DefaultTier,
	})
	if err != nil {
		return nil, fmt.Errorf("config: auth: %w", err)
	}
	return v, nil
}

var errNoSecret = errors.New("config: auth: no HMAC secret: set auth.hmac_secret_file or " + hmacSecretEnv)

// hmacSecret returns the HMAC secret from TICKGATE_AUTH_HMAC_SECRET or
// auth.hmac_secret_file, without the file's trailing newline, or
// errNoSecret if neither is set.
func hmacSecret(a *AuthConfig) ([]byte, error) {
	var secret []byte
	from := "auth.hmac_secret_file"
	switch {
	case a.HMACSecret != "":
		secret, from = []byte(a.HMACSecret), hmacSecretEnv
	case a.HMACSecretFile != "":
		data, err := os.ReadFile(a.HMACSecretFile)
		if err != nil {
			return nil, fmt.Errorf("config: auth.hmac_secret_file: %w", err)
		}
		secret = bytes.TrimRight(data, "\r\n")
	default:
		return nil, errNoSecret
	}
	if len(secret) < auth.MinHMACSecret {
		return nil, fmt.Errorf("config: %s: the secret is %d bytes, want at least %d (e.g. head -c 48 /dev/urandom | base64)", from, len(secret), auth.MinHMACSecret)
	}
	return secret, nil
}
