package main

import (
	"bytes"
	"context"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"

	"github.com/tickgate/tickgate"
	"github.com/tickgate/tickgate/internal/logtest"
)

func TestLoadConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, unknown, err := loadConfig("")
	if err != nil {
		t.Fatalf("loadConfig(\"\"): %v", err)
	}
	if len(unknown) != 0 {
		t.Errorf("unknown = %q, want none without a file", unknown)
	}
	var want Config
	want.Listen = ":8080"
	want.Log = LogConfig{Level: "info", Format: "text"}
	want.Server.MaxConnections = 10000
	want.Server.MaxConnsPerIP = 1000
	want.Server.DrainWindow = 5 * time.Second
	want.Server.ShutdownTimeout = 15 * time.Second
	want.Server.OriginPatterns = []string{"localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*"}
	want.Server.JSClientOrigins = []string{"*"}
	want.Feed.Source = "sim"
	want.Feed.Sim.Rate = 1000
	want.Feed.Sim.Seed = 1
	want.Feed.Sim.Skew = 1.1
	want.Feed.Sim.Backfill = 2 * time.Hour
	want.Feed.Sim.Book = true
	want.Feed.Sim.BookChurn = 0.25
	want.Feed.Sim.HaltDuration = 15 * time.Second
	want.Book.Depth = 10
	want.Feed.NATS.URLs = []string{"nats://127.0.0.1:4222"}
	want.Feed.NATS.Prefix = "ticks"
	want.Feed.NATS.ReconnectWait = 250 * time.Millisecond
	want.Feed.NATS.StallAfter = 5 * time.Second
	want.Feed.Replay.Speed = 1
	want.Feed.Replay.Timestamps = "emission"
	want.Publish.Source = "sim"
	want.Publish.Heartbeat = time.Second
	want.Publish.StreamHistory = 1024
	want.Publish.StreamReplicas = 1
	want.Publish.AckWindow = 1024
	want.Publish.MetricsListen = ":9091"
	want.Universe.MaxSymbols = 20000
	want.Fanout.Shards = 0
	want.Fanout.QueueBytes = 1 << 20
	want.Fanout.InboxTicks = 4096
	want.Fanout.RateClasses = []float64{1, 2, 4, 5, 10, 20, 50}
	want.Fanout.RatePhases = 8
	want.Fanout.History = 1024
	want.Bars.Grace, want.Bars.History = 250*time.Millisecond, 500
	want.Book.Depth = 10
	want.Status.StaleAfter = 10 * time.Second
	want.Client.MaxSymbols = 500
	want.Client.AllowWildcard = true
	want.Client.ReadLimit = 4096
	want.Client.MsgRate = 10
	want.Client.MsgBurst = 50
	want.Client.FloodBurst = 500
	want.Client.InboundBytes = 65536
	want.Client.InboundFrames = 100
	want.Client.InboundWindow = 10 * time.Second
	want.Client.MaxFrameBytes = 32768
	want.Client.WriteTimeout = 5 * time.Second
	want.Client.MaxStaleness = time.Second
	want.Client.PingInterval = 20 * time.Second
	want.Client.PongTimeout = 10 * time.Second
	want.Runtime.GOGC = 25
	want.Entitlements.Delay = 15 * time.Minute
	want.Entitlements.DelayMaxBytes = 256 << 20
	want.Auth = AuthConfig{
		Mode:                "none",
		Algorithms:          []string{"HS256"},
		PublicKeys:          []string{},
		Leeway:              5 * time.Second,
		DefaultTier:         "delayed",
		FirstMessageTimeout: 5 * time.Second,
	}

	if len(cfg.Feed.Sim.Symbols) != 0 {
		t.Errorf("feed.sim.symbols = %q, want empty (the built-in list)", cfg.Feed.Sim.Symbols)
	}
	cfg.Feed.Sim.Symbols = nil // [] and nil both mean the built-in list
	cfg.Feed.NATS.Symbols = nil
	if len(cfg.Server.TrustedProxies) != 0 {
		t.Errorf("server.trusted_proxies = %q, want empty", cfg.Server.TrustedProxies)
	}
	cfg.Server.TrustedProxies = nil
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", *cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate of the defaults: %v", err)
	}
}

// TestConfigKeysMatchStruct keeps config.yaml, which documents every key,
// and Config, which the gateway reads, from drifting apart.
func TestConfigKeysMatchStruct(t *testing.T) {
	t.Parallel()
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(tickgate.DefaultConfig)); err != nil {
		t.Fatal(err)
	}
	inFile := v.AllKeys()
	inStruct := structKeys(reflect.TypeFor[Config](), "")
	sort.Strings(inFile)
	sort.Strings(inStruct)
	for _, k := range inFile {
		if !slices.Contains(inStruct, k) {
			t.Errorf("config.yaml key %q has no Config field", k)
		}
	}
	for _, k := range inStruct {
		if !slices.Contains(inFile, k) {
			t.Errorf("Config field %q is not documented in config.yaml", k)
		}
	}
}

// structKeys returns the dotted mapstructure keys of typ's leaf fields.
func structKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for f := range typ.Fields() {
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, structKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

func TestLoadConfigFile(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `
listen: 127.0.0.1:9090
server:
  drain_window: 1s
  origin_patterns: [example.com]
  bogus: 1
feed:
  sim:
    rate: 2500
    symbols: [AAPL, MSFT]
    ratee: 5
extra: true
`)
	cfg, unknown, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if cfg.Listen != "127.0.0.1:9090" || cfg.Server.DrainWindow != time.Second || cfg.Feed.Sim.Rate != 2500 {
		t.Errorf("overrides not applied: listen %q, drain_window %s, feed.sim.rate %g",
			cfg.Listen, cfg.Server.DrainWindow, cfg.Feed.Sim.Rate)
	}
	if !slices.Equal(cfg.Server.OriginPatterns, []string{"example.com"}) || !slices.Equal(cfg.Feed.Sim.Symbols, []string{"AAPL", "MSFT"}) {
		t.Errorf("list overrides: origin_patterns %q, symbols %q", cfg.Server.OriginPatterns, cfg.Feed.Sim.Symbols)
	}
	// Keys the file leaves alone keep their defaults, also next to overridden siblings.
	if cfg.Server.ShutdownTimeout != 15*time.Second || cfg.Feed.Sim.Seed != 1 || cfg.Fanout.QueueBytes != 1<<20 || cfg.Client.PingInterval != 20*time.Second {
		t.Errorf("defaults lost in merge: shutdown_timeout %s, seed %d, queue_bytes %d, ping_interval %s",
			cfg.Server.ShutdownTimeout, cfg.Feed.Sim.Seed, cfg.Fanout.QueueBytes, cfg.Client.PingInterval)
	}
	sort.Strings(unknown)
	if want := []string{"extra", "feed.sim.ratee", "server.bogus"}; !slices.Equal(unknown, want) {
		t.Errorf("unknown = %q, want %q", unknown, want)
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/nope.yaml"
	if _, _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("loadConfig(missing) = %v, want an error naming %s", err, path)
	}
}

func TestLoadConfigEnv(t *testing.T) {
	// The file sets feed.sim.rate too: the environment wins over the file.
	path := writeConfig(t, "feed:\n  sim:\n    rate: 10\n")
	t.Setenv("TICKGATE_LISTEN", "127.0.0.1:9999")
	t.Setenv("TICKGATE_FEED_SIM_RATE", "2500")
	t.Setenv("TICKGATE_FANOUT_QUEUE_BYTES", "65536")
	t.Setenv("TICKGATE_SERVER_DRAIN_WINDOW", "200ms")
	t.Setenv("TICKGATE_CLIENT_ALLOW_WILDCARD", "false")
	t.Setenv("TICKGATE_FEED_SIM_SYMBOLS", "AAPL,MSFT")
	t.Setenv("TICKGATE_UNIVERSE_MAX_SYMBOLS", "50000")
	cfg, unknown, err := loadConfig(path)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if len(unknown) != 0 {
		t.Errorf("unknown = %q, want none", unknown)
	}
	if cfg.Listen != "127.0.0.1:9999" {
		t.Errorf("listen = %q, want TICKGATE_LISTEN", cfg.Listen)
	}
	if cfg.Feed.Sim.Rate != 2500 {
		t.Errorf("feed.sim.rate = %g, want TICKGATE_FEED_SIM_RATE over the file", cfg.Feed.Sim.Rate)
	}
	if cfg.Fanout.QueueBytes != 65536 {
		t.Errorf("fanout.queue_bytes = %d, want TICKGATE_FANOUT_QUEUE_BYTES", cfg.Fanout.QueueBytes)
	}
	if cfg.Server.DrainWindow != 200*time.Millisecond {
		t.Errorf("server.drain_window = %s, want TICKGATE_SERVER_DRAIN_WINDOW", cfg.Server.DrainWindow)
	}
	if cfg.Client.AllowWildcard {
		t.Error("client.allow_wildcard = true, want TICKGATE_CLIENT_ALLOW_WILDCARD=false")
	}
	if !slices.Equal(cfg.Feed.Sim.Symbols, []string{"AAPL", "MSFT"}) {
		t.Errorf("feed.sim.symbols = %q, want TICKGATE_FEED_SIM_SYMBOLS split on commas", cfg.Feed.Sim.Symbols)
	}
	if cfg.Universe.MaxSymbols != 50000 {
		t.Errorf("universe.max_symbols = %d, want TICKGATE_UNIVERSE_MAX_SYMBOLS", cfg.Universe.MaxSymbols)
	}
}

// badValues each break one key; the error must name it. The raw value is
// YAML in a file and the variable's text in the environment.
var badValues = []struct {
	key, raw string
}{
	{"fanout.queue_bytes", "10"},
	{"fanout.queue_bytes", "lots"},
	{"fanout.conflate_at", "2000000"}, // past fanout.queue_bytes
	{"book.depth", "0"},
	{"book.depth", "101"},
	{"status.stale_after", "-1s"},
	{"fanout.conflate_at", "-1"},
	{"fanout.rate_classes", "[]"},
	{"fanout.rate_classes", "[1, 1]"},
	{"fanout.rate_classes", "[0.0]"},
	{"fanout.rate_phases", "0"},
	{"fanout.rate_phases", "65"},
	{"fanout.history", "-1"},
	{"fanout.memory_budget", "lots"},
	{"fanout.memory_budget", "64KiB"}, // under 1MiB
	{"entitlements.delay", "0s"},
	{"entitlements.delay_max_bytes", "1000"},
	{"server.admin_listen", ":8080"}, // the same as listen
	{"feed.sim.rate", "-1"},
	{"feed.sim.rate", "2e7"},
	{"feed.sim.skew", "1"},
	{"feed.sim.backfill", "-1m"},
	{"feed.sim.backfill", "25h"},
	{"feed.sim.book_churn", "1.5"},
	{"feed.sim.halts_per_hour", "-1"},
	{"feed.sim.halt_duration", "0s"},
	{"book.depth", "0"},
	{"book.depth", "101"},
	{"feed.source", "kafka"},
	{"feed.replay.speed", "0"},
	{"feed.replay.format", "parquet"},
	{"feed.replay.timestamps", "wall"},
	{"feed.nats.reconnect_wait", "0s"},
	{"feed.nats.stream", "tick stream"},
	{"feed.nats.stall_after", "-1s"},
	{"feed.nats.stall_after", "1s"}, // under twice publish.heartbeat (1s)
	{"universe.pattern", "[A-Z"},
	{"universe.max_symbols", "0"},
	{"universe.max_symbols", "2000000"},
	{"universe.retire_after", "-1s"},
	{"universe.retire_after", "10ms"},
	{"feed.sim.symbols", "AAPL,MSFT,NVDA"}, // with universe.max_symbols 2 (badWith)
	{"feed.sim.universe", "-1"},
	{"feed.sim.universe", "30000"}, // past universe.max_symbols
	{"feed.sim.relist_every", "-1s"},
	{"publish.heartbeat", "-1s"},
	{"publish.stream_history", "0"},
	{"publish.stream_replicas", "7"},
	{"publish.ack_window", "0"},
	{"publish.metrics_listen", "9091"}, // no colon
	{"publish.source", "kafka"},
	{"runtime.gogc", "0"},
	{"runtime.memory_limit", "lots"},
	{"client.ping_interval", "abc"},
	{"client.pong_timeout", "0s"},
	{"client.max_staleness", "10ms"},
	{"client.max_frame_bytes", "2000000"}, // past fanout.queue_bytes
	{"client.allow_wildcard", "maybe"},
	{"client.inbound_bytes", "1000"}, // under client.read_limit
	{"client.inbound_frames", "0"},
	{"client.flood_burst", "10"}, // under client.msg_burst
	{"client.inbound_window", "100ms"},
	{"log.level", "loud"},
	{"log.format", "xml"},
	{"server.max_connections", "0"},
	{"server.max_connections_per_ip", "-1"},
	{"server.trusted_proxies", "[\"10.0.0.0/33\"]"},
	{"server.client_ip_header", "X-Forwarded-For"}, // without trusted_proxies
	{"server.drain_window", "-1s"},
	{"server.js_client_origins", "\"example.com:[\""},
	{"server.shutdown_timeout", "2s"}, // shorter than drain_window (5s)
	{"auth.mode", "ldap"},
	{"auth.mode", "jwt"}, // with no key source
	{"auth.algorithms", "[none]"},
	{"auth.algorithms", "[HS256, RS1]"},
	{"auth.algorithms", "[]"},
	{"auth.leeway", "-1s"},
	{"auth.default_tier", "gold"},
	{"auth.first_message_timeout", "0s"},
}

// TestUniversePattern checks universe.pattern matches whole symbols, and
// that the symbols listed at start must match it.
func TestUniversePattern(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, yamlOf(map[string]string{"universe.pattern": `"[A-Z]{1,4}"`, "feed.sim.symbols": "[AAPL, MSFT]"}))
	cfg, _, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	re, _ := cfg.symbolPattern()
	for sym, want := range map[string]bool{"AAPL": true, "A": true, "GOOGL": false, "BRK.B": false, "1AAPL": false} {
		if re.MatchString(sym) != want {
			t.Errorf("pattern %s matches %s: %v, want %v", re, sym, !want, want)
		}
	}
	path = writeConfig(t, yamlOf(map[string]string{"universe.pattern": `"[A-Z]{1,4}"`, "feed.sim.symbols": "[AAPL, GOOGL]"}))
	if _, _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), `feed.sim.symbols: "GOOGL" does not match`) {
		t.Fatalf("a simulated symbol outside the pattern: %v", err)
	}
}

func TestReplayNeedsPath(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, yamlOf(map[string]string{"feed.source": "replay"}))
	if _, _, err := loadConfig(path); err == nil || !strings.Contains(err.Error(), "feed.replay.path") {
		t.Fatalf("feed.source replay without a path: %v, want an error naming feed.replay.path", err)
	}
}

// badWith are the other keys a bad value is bad beside.
var badWith = map[string]map[string]string{
	"feed.sim.symbols": {"universe.max_symbols": "2"},
}

func TestLoadConfigBadFile(t *testing.T) {
	t.Parallel()
	for _, bad := range badValues {
		t.Run(bad.key+"="+bad.raw, func(t *testing.T) {
			t.Parallel()
			kv := map[string]string{bad.key: bad.raw}
			maps.Copy(kv, badWith[bad.key])
			path := writeConfig(t, yamlOf(kv))
			_, _, err := loadConfig(path)
			if err == nil || !strings.Contains(err.Error(), bad.key) {
				t.Errorf("loadConfig with %s: %s = %v, want an error naming %s", bad.key, bad.raw, err, bad.key)
			}
			checkErrorLines(t, err)
		})
	}
}

func TestLoadConfigBadEnv(t *testing.T) {
	for _, bad := range badValues {
		t.Run(bad.key+"="+bad.raw, func(t *testing.T) {
			t.Setenv(envName(bad.key), bad.raw)
			for k, v := range badWith[bad.key] {
				t.Setenv(envName(k), v)
			}
			_, _, err := loadConfig("")
			if err == nil || !strings.Contains(err.Error(), bad.key) {
				t.Errorf("loadConfig with %s=%s = %v, want an error naming %s", envName(bad.key), bad.raw, err, bad.key)
			}
			checkErrorLines(t, err)
		})
	}
}

// checkErrorLines fails t unless each line of err is one of ours
// ("config: KEY: ..."), with nothing of the decoder's wording.
func checkErrorLines(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if !strings.HasPrefix(line, "config: ") || strings.Contains(line, "decoding") || strings.Contains(line, "error(s)") {
			t.Errorf("error line %q is not one config: KEY: line", line)
		}
	}
}

func TestLoadConfigBadFileNamesEveryKey(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "log:\n  level: loud\nfanout:\n  queue_bytes: 10\n")
	_, _, err := loadConfig(path)
	for _, key := range []string{"log.level", "fanout.queue_bytes"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}

func TestRunCheckConfig(t *testing.T) {
	t.Parallel()
	good := writeConfig(t, "feed:\n  sim:\n    rate: 5000\n") // unknown keys: TestRunRefusesUnknownKey
	bad := writeConfig(t, "client:\n  ping_interval: abc\n")
	// ctx is already done: -check-config must return before serving anything.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	var stderr bytes.Buffer
	if err := run(ctx, []string{"-check-config", "--config", good}, &stderr); err != nil {
		t.Errorf("run -check-config good: %v", err)
	}
	if out := stderr.String(); !strings.Contains(out, "config OK") {
		t.Errorf("run -check-config good: stderr %q, want \"config OK\"", out)
	}

	stderr.Reset()
	err := run(ctx, []string{"-check-config", "--config", bad}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "client.ping_interval") {
		t.Errorf("run -check-config bad = %v, want an error naming client.ping_interval", err)
	}
	if strings.Contains(stderr.String(), "config OK") {
		t.Errorf("run -check-config bad printed %q", stderr.String())
	}

	if err := run(ctx, []string{"-no-such-flag"}, &stderr); err == nil {
		t.Error("run with an unknown flag = nil, want an error")
	}
}

// TestRunRefusesUnknownKey: a misspelt key fails -check-config (and the
// start), naming the key and the nearest known one, instead of leaving its
// setting at the default behind a warning.
func TestRunRefusesUnknownKey(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "lisen: \":9999\"\nfanout:\n  queue_byte: 100\n")
	var log logtest.Buffer
	err := run(context.Background(), []string{"-config", path, "-check-config"}, &log)
	if err == nil {
		t.Fatal("-check-config with unknown keys = nil, want an error")
	}
	for _, want := range []string{`"lisen"`, `"listen"`, `"fanout.queue_byte"`, `"fanout.queue_bytes"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(log.String(), "config OK") {
		t.Error("-check-config printed config OK for a file with unknown keys")
	}
}

// TestUnknownEnvWarned: a TICKGATE_ variable that names no key is warned
// about at start, with the nearest one that does.
func TestUnknownEnvWarned(t *testing.T) {
	t.Setenv("TICKGATE_LISEN", "127.0.0.1:9999")
	var log logtest.Buffer
	if err := run(context.Background(), []string{"-check-config"}, &log); err != nil {
		t.Fatal(err)
	}
	if out := log.String(); !strings.Contains(out, "TICKGATE_LISEN") || !strings.Contains(out, "nearest=TICKGATE_LISTEN") {
		t.Errorf("no warning naming TICKGATE_LISEN and TICKGATE_LISTEN in:\n%s", out)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"lisen", "listen", 1}, {"kitten", "sitting", 3}, {"abc", "", 3}} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
