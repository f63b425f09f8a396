package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tickgate/tickgate/auth"
	"github.com/tickgate/tickgate/subscribe"
)

// testSecret is a 32-byte HMAC secret.
const testSecret = "0123456789abcdef0123456789abcdef"

// writeSecret writes content as a secret file and returns its path.
func writeSecret(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hmac.secret")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// jwtConfig loads a config with auth.mode jwt and the given extra keys.
func jwtConfig(t *testing.T, kv map[string]string) (*Config, error) {
	t.Helper()
	kv["auth.mode"] = "jwt"
	cfg, _, err := loadConfig(writeConfig(t, yamlOf(kv)))
	return cfg, err
}

func TestNewVerifierNone(t *testing.T) {
	t.Parallel()
	cfg, _, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := newVerifier(cfg); v != nil || err != nil {
		t.Errorf("newVerifier(auth.mode none) = %v, %v; want nil, nil", v, err)
	}
}

func TestNewVerifierSecretFile(t *testing.T) {
	t.Parallel()
	// A secret file written by echo ends in a newline, which is not part of the secret.
	cfg, err := jwtConfig(t, map[string]string{
		"auth.hmac_secret_file": writeSecret(t, testSecret+"\n"),
		"auth.issuer":           "tickgate-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, err := auth.Mint([]byte(testSecret), auth.Claims{Subject: "alice", Symbols: []string{"*"}, Issuer: "tickgate-test", Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	g, err := v.Verify(token)
	if err != nil || g.Subject != "alice" || g.Tier != subscribe.Delayed {
		t.Errorf("Verify = %+v, %v; want alice at the default tier, delayed", g, err)
	}
}

func TestNewVerifierSecretEnv(t *testing.T) {
	t.Setenv(hmacSecretEnv, testSecret)
	cfg, err := jwtConfig(t, map[string]string{"auth.default_tier": "realtime"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := auth.Mint([]byte(testSecret), auth.Claims{Subject: "bob", Symbols: []string{"AAPL"}, Expires: time.Now().Add(time.Minute)})
	if g, err := v.Verify(token); err != nil || g.Tier != subscribe.Realtime {
		t.Errorf("Verify = %+v, %v; want bob at auth.default_tier realtime", g, err)
	}
	// The secret file and the variable at once is ambiguous.
	_, err = jwtConfig(t, map[string]string{"auth.hmac_secret_file": writeSecret(t, testSecret)})
	if err == nil || !strings.Contains(err.Error(), "auth.hmac_secret_file") || !strings.Contains(err.Error(), hmacSecretEnv) {
		t.Errorf("file and env both set: %v, want an error naming both", err)
	}
}

// TestNewVerifierLeeway checks that auth.leeway reaches the verifier, and
// that 0s means none rather than auth's default.
func TestNewVerifierLeeway(t *testing.T) {
	t.Parallel()
	secret := writeSecret(t, testSecret)
	token, _ := auth.Mint([]byte(testSecret), auth.Claims{Subject: "a", Symbols: []string{"*"}, Expires: time.Now().Add(-2 * time.Second)})
	for leeway, want := range map[string]string{"5s": "", "0s": subscribe.AuthExpired} {
		cfg, err := jwtConfig(t, map[string]string{"auth.hmac_secret_file": secret, "auth.leeway": leeway})
		if err != nil {
			t.Fatal(err)
		}
		v, err := newVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(token)
		got := ""
		if ae := (*subscribe.AuthError)(nil); errors.As(err, &ae) {
			got = ae.Reason
		} else if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("auth.leeway %s: token 2s past exp: refused %q, want %q", leeway, got, want)
		}
	}
}

// TestNewVerifierPublicKeys checks a PEM public key with EdDSA pinned.
func TestNewVerifierPublicKeys(t *testing.T) {
	t.Parallel()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	keyFile := writeSecret(t, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	cfg, err := jwtConfig(t, map[string]string{"auth.public_keys": "[" + keyFile + "]", "auth.algorithms": "[EdDSA]"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "carol", "syms": "*", "exp": time.Now().Add(time.Minute).Unix()}).SignedString(priv)
	if g, err := v.Verify(token); err != nil || g.Subject != "carol" {
		t.Errorf("Verify = %+v, %v; want carol", g, err)
	}
}

// TestNewVerifierErrors checks that key files that cannot be used stop
// start-up, and -check-config, with an error naming the key.
func TestNewVerifierErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cases := []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{"auth.hmac_secret_file": dir + "/nope"}, "auth.hmac_secret_file"},
		{map[string]string{"auth.hmac_secret_file": writeSecret(t, "short\n")}, "at least 32"},
		{map[string]string{"auth.public_keys": "[" + dir + "/nope.pem]", "auth.algorithms": "[RS256]"}, "nope.pem"},
		{map[string]string{"auth.jwks_file": writeSecret(t, "{}"), "auth.algorithms": "[RS256]"}, "no signing keys"},
		// HS256 is the default algorithm: a public key alone leaves it keyless.
		{map[string]string{"auth.jwks_file": writeSecret(t, `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)}, "HS256 has no HMAC key"},
	}
	for _, tc := range cases {
		cfg, err := jwtConfig(t, tc.kv)
		if err != nil {
			t.Fatalf("%v: loadConfig: %v", tc.kv, err)
		}
		if _, err := newVerifier(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: newVerifier = %v, want an error containing %q", tc.kv, err, tc.want)
		}
		path := writeConfig(t, yamlOf(tc.kv))
		if err := run(context.Background(), []string{"-check-config", "--config", path}, &strings.Builder{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: -check-config = %v, want an error containing %q", tc.kv, err, tc.want)
		}
	}
}
