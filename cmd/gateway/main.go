// Command gateway runs tickgate: a feed, the fan-out engine and the
// WebSocket server, wired from config.yaml. Only this package touches viper,
// signals, the Prometheus registry and the http.Server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	// SIGHUP drains as SIGTERM does: nothing reloads without a restart,
	// and a hang-up must never end the gateway without telling its clients.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "gateway:", err)
		}
		os.Exit(1)
	}
}

// run parses flags, loads the config and serves until ctx is done. With
// "publish" as its first argument it runs the feed into NATS instead; with
// "token" it prints a token for auth.mode jwt.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], os.Stdout, stderr)
	}
	publish := len(args) > 0 && args[0] == "publish"
	if publish {
		args = args[1:]
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: gateway [publish] [-config FILE] [-check-config]\n"+
			"       gateway token --sub NAME --syms PATTERNS [--tier T] [--ttl D] [--max-conns N] [--config FILE]\n\n"+
			"  gateway          serve /ws, /metrics and the live page from feed.source\n"+
			"  gateway publish  run publish.source into NATS (feed.nats.urls) for a fleet of gateways\n"+
			"  gateway token    print an HS256 token signed with the configured HMAC secret\n\n")
		fs.PrintDefaults()
	}
	path := fs.String("config", "", "YAML file of keys to override (see config.yaml)")
	check := fs.Bool("check-config", false, "validate the configuration and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, unknown, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if len(unknown) > 0 {
		return unknownKeysError(*path, unknown)
	}
	log := newLogger(cfg.Log, stderr)
	names, nearestNames := unknownEnv(os.Environ())
	for i, name := range names {
		log.Warn("unknown TICKGATE_ variable ignored", "name", name, "nearest", nearestNames[i])
	}
	if *check {
		if _, err := newVerifier(cfg); err != nil {
			return err
		}
		fmt.Fprintln(stderr, "config OK")
		return nil
	}
	setRuntime(cfg)
	if publish {
		return runPublish(ctx, cfg, log)
	}
	gw, err := newGateway(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	url := openURL(ln.Addr())
	log.Info("tickgate listening", "addr", ln.Addr().String(), "symbols", len(gw.engine.Symbols()), "url", url)
	if cfg.Log.Format != "json" { // a person is reading: say where to look
		fmt.Fprintf(stderr, "open %s\n", url)
		if cfg.Auth.Mode == "jwt" {
			fmt.Fprintf(stderr, "  auth.mode jwt: the page asks for a token; \"gateway token --sub you --syms '*'\" mints one (or open %s?token=...)\n", url)
		}
	}
	return gw.serve(ctx, ln)
}

// openURL is the page's URL for a listener on addr. An unspecified host
// (":8080", listening on every interface) is reached as localhost.
func openURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level)) // Validate checked it
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// setRuntime applies runtime.gogc and runtime.memory_limit unless the GOGC
// or GOMEMLIMIT environment variables already set them.
func setRuntime(cfg *Config) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(cfg.Runtime.GOGC)
	}
	if limit := int64(cfg.Runtime.MemoryLimit); limit > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
