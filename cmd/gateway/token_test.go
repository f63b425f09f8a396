package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickgate/tickgate/auth"
	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/subscribe"
)

// TestRunToken mints a token with "gateway token" and checks it with the
// verifier the same config builds: the grant is what the flags asked for.
func TestRunToken(t *testing.T) {
	t.Parallel()
	cfgPath := writeConfig(t, yamlOf(map[string]string{
		"auth.mode":             "jwt",
		"auth.hmac_secret_file": writeSecret(t, testSecret+"\n"),
		"auth.issuer":           "tickgate-test",
		"auth.audience":         "dashboards",
	}))
	var stdout, stderr bytes.Buffer
	before := time.Now().Truncate(time.Second)
	err := runToken([]string{"--sub", "alice", "--syms", "AAPL, MSFT,BRK.*", "--streams", "ticks, status", "--tier", "realtime", "--ttl", "90m", "--max-conns", "2", "--config", cfgPath}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("runToken: %v (stderr %q)", err, stderr.String())
	}
	token := strings.TrimSuffix(stdout.String(), "\n")
	if strings.Count(token, ".") != 2 || strings.ContainsAny(token, " \n") {
		t.Fatalf("stdout %q is not one token on one line", stdout.String())
	}
	cfg, _, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	v, err := newVerifier(cfg) // checks iss and aud too: the token must carry both
	if err != nil {
		t.Fatal(err)
	}
	g, err := v.Verify(token)
	if err != nil {
		t.Fatalf("Verify(minted token): %v", err)
	}
	if g.Subject != "alice" || !slices.Equal(g.Symbols, []string{"AAPL", "MSFT", "BRK.*"}) || g.Tier != subscribe.Realtime || g.MaxConns != 2 {
		t.Errorf("grant = %+v, want alice [AAPL MSFT BRK.*] realtime max 2", g)
	}
	if !slices.Equal(g.Streams, []fanout.Stream{fanout.Ticks, fanout.Status}) || g.AllowsStream(fanout.Book) {
		t.Errorf("grant streams %v, want ticks and status (no book)", g.Streams)
	}
	if lo, hi := before.Add(90*time.Minute), time.Now().Add(90*time.Minute); g.Expires.Before(lo) || g.Expires.After(hi) {
		t.Errorf("expires %s, want within [%s, %s] (--ttl 90m)", g.Expires, lo, hi)
	}
}

// TestRunTokenDefaultTier checks that without --tier the token has no tier
// claim, so the verifier's auth.default_tier decides.
func TestRunTokenDefaultTier(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	cfgPath := writeConfig(t, yamlOf(map[string]string{"auth.hmac_secret_file": writeSecret(t, testSecret)}))
	if err := runToken([]string{"--sub", "bob", "--syms", "*", "--config", cfgPath}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for tier, want := range map[string]subscribe.Tier{"delayed": subscribe.Delayed, "realtime": subscribe.Realtime} {
		v, err := auth.New(auth.Config{HMACSecret: []byte(testSecret), DefaultTier: tier})
		if err != nil {
			t.Fatal(err)
		}
		if g, err := v.Verify(strings.TrimSpace(stdout.String())); err != nil || g.Tier != want {
			t.Errorf("default tier %s: grant %+v, %v; want tier %s", tier, g, err, want)
		}
	}
}

func TestRunTokenErrors(t *testing.T) {
	t.Parallel()
	good := writeConfig(t, yamlOf(map[string]string{"auth.hmac_secret_file": writeSecret(t, testSecret)}))
	noSecret := writeConfig(t, "log:\n  level: warn\n")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--syms", "AAPL", "--config", good}, "--sub is required"},
		{[]string{"--sub", "a", "--config", good}, "--syms needs at least one pattern"},
		{[]string{"--sub", "a", "--syms", " , ", "--config", good}, "--syms needs at least one pattern"},
		{[]string{"--sub", "a", "--syms", "AA[", "--config", good}, `pattern "AA["`},
		{[]string{"--sub", "a", "--syms", "*", "--tier", "gold", "--config", good}, "--tier"},
		{[]string{"--sub", "a", "--syms", "*", "--ttl", "0s", "--config", good}, "--ttl must be > 0"},
		{[]string{"--sub", "a", "--syms", "*", "--max-conns", "-1", "--config", good}, "--max-conns"},
		{[]string{"--sub", "a", "--syms", "*", "--streams", "ticks,books", "--config", good}, `--streams: subscribe: unknown stream "books"`},
		{[]string{"--sub", "a", "--syms", "*", "extra", "--config", good}, "unexpected arguments"},
		{[]string{"--sub", "a", "--syms", "*", "--config", noSecret}, "no HMAC secret"},
		{[]string{"--sub", "a", "--syms", "*", "--config", good + ".missing"}, ".missing"},
		{[]string{"--bogus"}, "bogus"},
	}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		err := runToken(tc.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), tc.want) {
			t.Errorf("runToken %q = %v (stderr %q), want an error containing %q", tc.args, err, stderr.String(), tc.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("runToken %q printed %q on a failure", tc.args, stdout.String())
		}
	}
}

// TestRunDispatchesToken checks that "gateway token" reaches runToken: a
// bad flag fails with runToken's message, before any server starts.
func TestRunDispatchesToken(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, []string{"token", "--sub", "a", "--syms", "*", "--ttl", "-1h"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--ttl must be > 0") {
		t.Errorf("run token = %v, want runToken's --ttl error", err)
	}
}
