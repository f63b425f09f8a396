package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/tickgate/tickgate/auth"
	"github.com/tickgate/tickgate/subscribe"
)

// runToken is "gateway token": it mints an HS256 token from the configured
// HMAC secret and prints it on stdout, for trying auth.mode jwt and for
// tests. The token carries auth.issuer and auth.audience when they are set,
// so it passes this gateway's own checks.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gateway token --sub NAME --syms 'AAPL,MS*' [--streams ticks,bars.1m] [--tier realtime|delayed] [--ttl 1h] [--max-conns N] [--config FILE]\n\n"+
			"Prints an HS256 token signed with auth.hmac_secret_file or %s.\n\n", hmacSecretEnv)
		fs.PrintDefaults()
	}
	sub := fs.String("sub", "", "subject (the sub claim); max_conns counts per subject")
	syms := fs.String("syms", "", "comma-separated glob patterns the subject may see, e.g. 'AAPL,MS*' or '*'")
	streams := fs.String("streams", "", "comma-separated streams the subject may see (ticks, bars.1s, bars.1m, book, status); empty leaves the claim out: every stream")
	tier := fs.String("tier", "", "realtime or delayed; empty leaves the claim out, so auth.default_tier applies")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid from now")
	maxConns := fs.Int("max-conns", 0, "concurrent connections allowed for the subject; 0 means no cap")
	cfgPath := fs.String("config", "", "YAML file of keys to override (see config.yaml)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	claims, err := tokenClaims(fs.Args(), *sub, *syms, *tier, *ttl, *maxConns)
	if err == nil && *streams != "" {
		claims.Streams, err = tokenStreams(*streams)
	}
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	cfg, unknown, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	for _, k := range unknown {
		newLogger(cfg.Log, stderr).Warn("unknown config key ignored", "key", k, "file", *cfgPath)
	}
	secret, err := hmacSecret(&cfg.Auth)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	claims.Issuer, claims.Audience = cfg.Auth.Issuer, cfg.Auth.Audience
	token, err := auth.Mint(secret, claims)
	if err != nil {
		return fmt.Errorf("token: %w", err)
	}
	_, err = fmt.Fprintln(stdout, token)
	return err
}

// tokenStreams checks --streams: names a grant may carry.
func tokenStreams(list string) ([]string, error) {
	names := strings.Split(list, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	if _, err := subscribe.ParseStreams(names); err != nil {
		return nil, fmt.Errorf("--streams: %w", err)
	}
	return names, nil
}

// tokenClaims checks the flags of "gateway token" and turns them into
// claims, so that a mistake is reported here rather than as a 401 later.
func tokenClaims(rest []string, sub, syms, tier string, ttl time.Duration, maxConns int) (auth.Claims, error) {
	var errs []error
	if len(rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", rest))
	}
	if sub == "" {
		errs = append(errs, errors.New("--sub is required"))
	}
	var patterns []string
	for _, p := range strings.Split(syms, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			errs = append(errs, fmt.Errorf("--syms: pattern %q: %w", p, err))
		}
		patterns = append(patterns, p)
	}
	if len(patterns) == 0 {
		errs = append(errs, errors.New("--syms needs at least one pattern, e.g. 'AAPL,MSFT' or '*'"))
	}
	if tier != "" {
		if _, err := subscribe.ParseTier(tier); err != nil {
			errs = append(errs, fmt.Errorf("--tier: %w", err))
		}
	}
	if ttl <= 0 {
		errs = append(errs, fmt.Errorf("--ttl must be > 0, got %s", ttl))
	}
	if maxConns < 0 {
		errs = append(errs, fmt.Errorf("--max-conns must be >= 0, got %d", maxConns))
	}
	now := time.Now()
	c := auth.Claims{Subject: sub, Symbols: patterns, Tier: tier, MaxConns: maxConns, IssuedAt: now, Expires: now.Add(ttl)}
	return c, errors.Join(errs...)
}
