package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/subscribe"
)

// claims is a token's payload. The registered claims are checked by jwt;
// the entitlement claims stay raw until the signature is known good, so a
// malformed entitlement in a signed token is bad_claims, not malformed.
// Errors about them say what is wanted and quote none of the token.
type claims struct {
	jwt.RegisteredClaims
	Syms     json.RawMessage `json:"syms,omitempty"`
	Streams  json.RawMessage `json:"streams,omitempty"`
	Tier     json.RawMessage `json:"tier,omitempty"`
	MaxConns json.RawMessage `json:"max_conns,omitempty"`
}

// grant reads the entitlement claims; def is the tier when there is no
// tier claim.
func (c *claims) grant(def subscribe.Tier) (subscribe.Grant, error) {
	if c.Subject == "" {
		return subscribe.Grant{}, errors.New("auth: sub is missing")
	}
	syms, err := parseSyms(c.Syms)
	if err != nil {
		return subscribe.Grant{}, err
	}
	streams, err := parseStreams(c.Streams)
	if err != nil {
		return subscribe.Grant{}, err
	}
	tier, err := parseTier(c.Tier, def)
	if err != nil {
		return subscribe.Grant{}, err
	}
	maxConns, err := parseMaxConns(c.MaxConns)
	if err != nil {
		return subscribe.Grant{}, err
	}
	g := subscribe.Grant{Subject: c.Subject, Symbols: syms, Streams: streams, Tier: tier, MaxConns: maxConns}
	if c.ExpiresAt != nil {
		g.Expires = c.ExpiresAt.Time
	}
	return g, nil
}

// parseSyms reads syms: a JSON array of glob patterns, or one string of
// comma-separated patterns ("AAPL,MS*"). A grant without patterns would
// admit a client who may see nothing, so it is refused.
func parseSyms(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, errors.New("auth: syms is missing")
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, errors.New("auth: syms must be an array of patterns or a comma-separated string")
		}
		list = strings.Split(s, ",")
	}
	syms := make([]string, 0, len(list))
	for _, p := range list {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("auth: syms: a pattern: %w", err)
		}
		syms = append(syms, p)
	}
	if len(syms) == 0 {
		return nil, errors.New("auth: syms lists no pattern")
	}
	return syms, nil
}

// parseStreams reads streams: a JSON array of stream names, or one string
// of comma-separated names ("ticks,bars.1m,status"). Absent means every
// stream; an unknown name is refused, so a misspelt one does not quietly
// withhold a stream.
func parseStreams(raw json.RawMessage) ([]fanout.Stream, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, errors.New("auth: streams must be an array of stream names or a comma-separated string")
		}
		list = strings.Split(s, ",")
	}
	for i := range list {
		list[i] = strings.TrimSpace(list[i])
	}
	streams, err := subscribe.ParseStreams(list)
	if err != nil {
		return nil, fmt.Errorf("auth: streams: %w", err)
	}
	return streams, nil
}

func parseTier(raw json.RawMessage, def subscribe.Tier) (subscribe.Tier, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return def, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return 0, errors.New(`auth: tier must be "realtime" or "delayed"`)
	}
	t, err := subscribe.ParseTier(s)
	if err != nil {
		return 0, errors.New(`auth: tier must be "realtime" or "delayed"`)
	}
	return t, nil
}

func parseMaxConns(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, nil
	}
	var n json.Number // also takes "3" in quotes, which a number claim must not be
	if err := json.Unmarshal(raw, &n); err != nil || raw[0] == '"' {
		return 0, errors.New("auth: max_conns must be a whole number")
	}
	i, err := n.Int64()
	if err != nil || i < 0 || i > math.MaxInt32 {
		return 0, fmt.Errorf("auth: max_conns must be a whole number in [0, %d]", math.MaxInt32)
	}
	return int(i), nil
}
