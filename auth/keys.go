package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/MicahParks/jwkset"
)

// publicKey is one verification key and where it may be used.
type publicKey struct {
	family family
	kid    string // from a JWKS; "" for PEM keys
	alg    string // the JWK's "alg"; "" allows every algorithm of family
	key    any    // *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// keyFamily returns the family of a parsed public key, or 0 if the
// verifier cannot use it.
func keyFamily(key any) family {
	switch key.(type) {
	case *rsa.PublicKey:
		return familyRSA
	case *ecdsa.PublicKey:
		return familyECDSA
	case ed25519.PublicKey:
		return familyEd25519
	}
	return 0
}

// loadPEM reads every public key and certificate in a PEM file.
func loadPEM(path string) ([]publicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: public key: %w", err)
	}
	var keys []publicKey
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		key, err := parsePEMBlock(block)
		if err != nil {
			return nil, fmt.Errorf("auth: public key %s: %w", path, err)
		}
		f := keyFamily(key)
		if f == 0 {
			return nil, fmt.Errorf("auth: public key %s: unsupported key type %T (want RSA, ECDSA or Ed25519)", path, key)
		}
		keys = append(keys, publicKey{family: f, key: key})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: public key %s: no PEM block found", path)
	}
	return keys, nil
}

// parsePEMBlock parses one public key or certificate block. Private keys
// are refused: the gateway only verifies, and should not hold them.
func parsePEMBlock(block *pem.Block) (any, error) {
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("holds a %s: give the gateway the public key only", block.Type)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

// loadJWKS reads the signing keys of a local JWKS file with jwkset. Keys
// marked "use":"enc" are skipped; a symmetric ("oct") key is refused,
// since a JWKS is a public document and an HMAC secret in it is no secret.
func loadJWKS(path string) ([]publicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("auth: jwks %s: %w", path, err)
	}
	var keys []publicKey
	for i, m := range set.Keys {
		if m.USE == jwkset.UseEnc {
			continue
		}
		if m.KTY == jwkset.KtyOct {
			return nil, fmt.Errorf("auth: jwks %s: key %d (kid %q) is symmetric: put an HMAC secret in the secret file, not a JWKS", path, i, m.KID)
		}
		// Private: false reads only the public half of any key.
		jwk, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			return nil, fmt.Errorf("auth: jwks %s: key %d (kid %q): %w", path, i, m.KID, err)
		}
		f := keyFamily(jwk.Key())
		if f == 0 {
			return nil, fmt.Errorf("auth: jwks %s: key %d (kid %q): unsupported key type %T for signatures", path, i, m.KID, jwk.Key())
		}
		keys = append(keys, publicKey{family: f, kid: m.KID, alg: string(m.ALG), key: jwk.Key()})
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: jwks %s: %w", path, errNoSigningKeys)
	}
	return keys, nil
}

var errNoSigningKeys = errors.New("no signing keys")
