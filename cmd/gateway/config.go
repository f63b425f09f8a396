package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spf13/viper"

	"github.com/tickgate/tickgate"
	"github.com/tickgate/tickgate/auth"
	feednats "github.com/tickgate/tickgate/feed/nats"
	"github.com/tickgate/tickgate/feed/replay"
)

// Config is the whole gateway configuration. config.yaml at the repository
// root documents every key and is embedded as the defaults.
type Config struct {
	Listen  string `mapstructure:"listen"`
	Runtime struct {
		GOGC        int      `mapstructure:"gogc"`
		MemoryLimit ByteSize `mapstructure:"memory_limit"`
	} `mapstructure:"runtime"`
	Log    LogConfig `mapstructure:"log"`
	Server struct {
		MaxConnections  int           `mapstructure:"max_connections"`
		MaxConnsPerIP   int           `mapstructure:"max_connections_per_ip"`
		ClientIPHeader  string        `mapstructure:"client_ip_header"`
		TrustedProxies  []string      `mapstructure:"trusted_proxies"`
		DrainWindow     time.Duration `mapstructure:"drain_window"`
		ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
		OriginPatterns  []string      `mapstructure:"origin_patterns"`
		JSClientOrigins []string      `mapstructure:"js_client_origins"`
		PProf           bool          `mapstructure:"pprof"`
		AdminListen     string        `mapstructure:"admin_listen"`
	} `mapstructure:"server"`
	Entitlements struct {
		Delay         time.Duration `mapstructure:"delay"`
		DelayMaxBytes ByteSize      `mapstructure:"delay_max_bytes"`
	} `mapstructure:"entitlements"`
	Feed     FeedConfig `mapstructure:"feed"`
	Universe struct {
		Pattern     string        `mapstructure:"pattern"`
		MaxSymbols  int           `mapstructure:"max_symbols"`
		RetireAfter time.Duration `mapstructure:"retire_after"`
	} `mapstructure:"universe"`
	Publish struct {
		Source         string        `mapstructure:"source"`
		Heartbeat      time.Duration `mapstructure:"heartbeat"`
		StreamHistory  int64         `mapstructure:"stream_history"`
		StreamReplicas int           `mapstructure:"stream_replicas"`
		AckWindow      int           `mapstructure:"ack_window"`
		MetricsListen  string        `mapstructure:"metrics_listen"`
	} `mapstructure:"publish"`
	Fanout struct {
		Shards       int       `mapstructure:"shards"`
		QueueBytes   ByteSize  `mapstructure:"queue_bytes"`
		ConflateAt   ByteSize  `mapstructure:"conflate_at"`
		InboxTicks   int       `mapstructure:"inbox_ticks"`
		RateClasses  []float64 `mapstructure:"rate_classes"`
		RatePhases   int       `mapstructure:"rate_phases"`
		History      int       `mapstructure:"history"`
		MemoryBudget ByteSize  `mapstructure:"memory_budget"`
	} `mapstructure:"fanout"`
	Bars struct {
		Grace   time.Duration `mapstructure:"grace"`
		History int           `mapstructure:"history"`
	} `mapstructure:"bars"`
	Book struct {
		Depth int `mapstructure:"depth"`
	} `mapstructure:"book"`
	Status struct {
		StaleAfter time.Duration `mapstructure:"stale_after"`
	} `mapstructure:"status"`
	Client struct {
		MaxSymbols    int           `mapstructure:"max_symbols"`
		AllowWildcard bool          `mapstructure:"allow_wildcard"`
		ReadLimit     ByteSize      `mapstructure:"read_limit"`
		MsgRate       float64       `mapstructure:"msg_rate"`
		MsgBurst      int           `mapstructure:"msg_burst"`
		FloodBurst    int           `mapstructure:"flood_burst"`
		InboundBytes  ByteSize      `mapstructure:"inbound_bytes"`
		InboundFrames float64       `mapstructure:"inbound_frames"`
		InboundWindow time.Duration `mapstructure:"inbound_window"`
		MaxFrameBytes ByteSize      `mapstructure:"max_frame_bytes"`
		WriteTimeout  time.Duration `mapstructure:"write_timeout"`
		MaxStaleness  time.Duration `mapstructure:"max_staleness"`
		PingInterval  time.Duration `mapstructure:"ping_interval"`
		PongTimeout   time.Duration `mapstructure:"pong_timeout"`
	} `mapstructure:"client"`
	Auth AuthConfig `mapstructure:"auth"`
}

// AuthConfig turns token checking on and says which tokens pass; auth/
// does the checking.
type AuthConfig struct {
	Mode                string        `mapstructure:"mode"`
	Algorithms          []string      `mapstructure:"algorithms"`
	HMACSecretFile      string        `mapstructure:"hmac_secret_file"`
	PublicKeys          []string      `mapstructure:"public_keys"`
	JWKSFile            string        `mapstructure:"jwks_file"`
	Issuer              string        `mapstructure:"issuer"`
	Audience            string        `mapstructure:"audience"`
	Leeway              time.Duration `mapstructure:"leeway"`
	DefaultTier         string        `mapstructure:"default_tier"`
	FirstMessageTimeout time.Duration `mapstructure:"first_message_timeout"`
	// HMACSecret is TICKGATE_AUTH_HMAC_SECRET. It has no YAML key on
	// purpose: a secret belongs in a file of its own or the environment,
	// not in a config file that gets copied around.
	HMACSecret string `mapstructure:"-"`
}

// hmacSecretEnv carries the HMAC secret itself, as an alternative to
// auth.hmac_secret_file.
const hmacSecretEnv = "TICKGATE_AUTH_HMAC_SECRET"

// FeedConfig picks and configures the tick source.
type FeedConfig struct {
	Source string `mapstructure:"source"`
	Sim    struct {
		Rate         float64       `mapstructure:"rate"`
		Seed         uint64        `mapstructure:"seed"`
		Skew         float64       `mapstructure:"skew"`
		Symbols      []string      `mapstructure:"symbols"`
		Universe     int           `mapstructure:"universe"`
		RelistEvery  time.Duration `mapstructure:"relist_every"`
		Backfill     time.Duration `mapstructure:"backfill"`
		Book         bool          `mapstructure:"book"`
		BookChurn    float64       `mapstructure:"book_churn"`
		HaltsPerHour float64       `mapstructure:"halts_per_hour"`
		HaltDuration time.Duration `mapstructure:"halt_duration"`
	} `mapstructure:"sim"`
	NATS struct {
		URLs          []string      `mapstructure:"urls"`
		Prefix        string        `mapstructure:"prefix"`
		Symbols       []string      `mapstructure:"symbols"`
		ReconnectWait time.Duration `mapstructure:"reconnect_wait"`
		Stream        string        `mapstructure:"stream"`
		StallAfter    time.Duration `mapstructure:"stall_after"`
	} `mapstructure:"nats"`
	Replay struct {
		Path       string  `mapstructure:"path"`
		Format     string  `mapstructure:"format"`
		Speed      float64 `mapstructure:"speed"`
		Fast       bool    `mapstructure:"fast"`
		Loop       bool    `mapstructure:"loop"`
		Timestamps string  `mapstructure:"timestamps"`
	} `mapstructure:"replay"`
}

// LogConfig picks the log level and format.
type LogConfig struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// loadConfig reads the embedded defaults, then the file at path (if any),
// then TICKGATE_ environment variables. It returns the keys in the file
// that the gateway does not know, for the caller to warn about.
func loadConfig(path string) (*Config, []string, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(tickgate.DefaultConfig)); err != nil {
		return nil, nil, fmt.Errorf("config: embedded defaults: %w", err)
	}
	known := make(map[string]bool)
	for _, k := range v.AllKeys() {
		known[k] = true
	}
	var unknown []string
	if path != "" {
		v.SetConfigFile(path)
		if err := v.MergeInConfig(); err != nil {
			var perr viper.ConfigParseError // its text leads with "While parsing config"
			if errors.As(err, &perr) {
				err = perr.Unwrap()
			}
			return nil, nil, fmt.Errorf("config: %s: %w", path, err)
		}
		for _, k := range v.AllKeys() {
			if !known[k] {
				unknown = append(unknown, k)
			}
		}
	}
	v.SetEnvPrefix("TICKGATE")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	var cfg Config
	if err := v.Unmarshal(&cfg, viper.DecodeHook(decodeHook)); err != nil {
		return nil, unknown, decodeErrors(err)
	}
	cfg.Auth.HMACSecret = os.Getenv(hmacSecretEnv)
	return &cfg, unknown, cfg.Validate()
}

// Validate checks every value; each error names its YAML key.
func (c *Config) Validate() error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
		}
	}
	check(c.Listen != "", "listen", "must not be empty")
	check(c.Runtime.GOGC > 0, "runtime.gogc", "must be > 0, got %d", c.Runtime.GOGC)
	check(oneOf(c.Log.Level, "debug", "info", "warn", "error"), "log.level", "want debug, info, warn or error, got %q", c.Log.Level)
	check(oneOf(c.Log.Format, "text", "json"), "log.format", "want text or json, got %q", c.Log.Format)
	check(c.Server.MaxConnections > 0, "server.max_connections", "must be > 0, got %d", c.Server.MaxConnections)
	check(c.Server.MaxConnsPerIP >= 0, "server.max_connections_per_ip", "must be >= 0 (0: no limit), got %d", c.Server.MaxConnsPerIP)
	_, proxyErr := c.trustedProxies()
	check(proxyErr == nil, "server.trusted_proxies", "%v", proxyErr)
	check(c.Server.ClientIPHeader == "" || len(c.Server.TrustedProxies) > 0, "server.client_ip_header", "needs server.trusted_proxies, got %q with none (a header is believed only from a trusted proxy)", c.Server.ClientIPHeader)
	for _, p := range c.Server.JSClientOrigins {
		_, err := path.Match(p, "")
		check(err == nil, "server.js_client_origins", "want path.Match patterns on host[:port] or \"*\", got %q", p)
	}
	check(c.Server.DrainWindow >= 0, "server.drain_window", "must be >= 0, got %s", c.Server.DrainWindow)
	check(c.Server.ShutdownTimeout > c.Server.DrainWindow, "server.shutdown_timeout", "must exceed server.drain_window (%s), got %s", c.Server.DrainWindow, c.Server.ShutdownTimeout)
	check(oneOf(c.Feed.Source, "sim", "nats", "replay"), "feed.source", "want sim, nats or replay, got %q", c.Feed.Source)
	check(oneOf(c.Publish.Source, "sim", "replay"), "publish.source", "want sim or replay, got %q", c.Publish.Source)
	check(len(c.Feed.NATS.URLs) > 0, "feed.nats.urls", "must list at least one server")
	check(c.Feed.NATS.ReconnectWait > 0, "feed.nats.reconnect_wait", "must be > 0, got %s", c.Feed.NATS.ReconnectWait)
	check(c.Feed.NATS.Stream == "" || feednats.ValidStreamName(c.Feed.NATS.Stream), "feed.nats.stream", "want letters, digits, '-' or '_', got %q", c.Feed.NATS.Stream)
	check(c.Feed.NATS.StallAfter >= 0, "feed.nats.stall_after", "must be >= 0, got %s", c.Feed.NATS.StallAfter)
	check(c.Publish.Heartbeat >= 0, "publish.heartbeat", "must be >= 0, got %s", c.Publish.Heartbeat)
	check(c.Feed.NATS.StallAfter == 0 || c.Publish.Heartbeat == 0 || c.Feed.NATS.StallAfter >= 2*c.Publish.Heartbeat,
		"feed.nats.stall_after", "must be at least twice publish.heartbeat (%s), got %s", c.Publish.Heartbeat, c.Feed.NATS.StallAfter)
	check(c.Publish.StreamHistory > 0, "publish.stream_history", "must be > 0, got %d", c.Publish.StreamHistory)
	check(c.Publish.StreamReplicas >= 1 && c.Publish.StreamReplicas <= 5, "publish.stream_replicas", "must be in [1, 5], got %d", c.Publish.StreamReplicas)
	check(c.Publish.AckWindow >= 1 && c.Publish.AckWindow <= 1<<20, "publish.ack_window", "must be in [1, 1048576], got %d", c.Publish.AckWindow)
	_, _, metricsErr := net.SplitHostPort(c.Publish.MetricsListen)
	check(c.Publish.MetricsListen == "" || metricsErr == nil, "publish.metrics_listen", "want host:port or empty, got %q", c.Publish.MetricsListen)
	usesReplay := c.Feed.Source == "replay" || c.Publish.Source == "replay"
	check(!usesReplay || c.Feed.Replay.Path != "", "feed.replay.path", "must name a file when replaying")
	check(oneOf(c.Feed.Replay.Format, "", "ndjson", "csv"), "feed.replay.format", "want ndjson, csv or empty, got %q", c.Feed.Replay.Format)
	check(c.Feed.Replay.Speed > 0, "feed.replay.speed", "must be > 0, got %g", c.Feed.Replay.Speed)
	check(oneOf(c.Feed.Replay.Timestamps, replay.TimestampsEmission, replay.TimestampsRecorded), "feed.replay.timestamps", "want emission or recorded, got %q", c.Feed.Replay.Timestamps)
	check(c.Feed.Sim.Rate > 0 && c.Feed.Sim.Rate <= 1e7, "feed.sim.rate", "must be in (0, 10000000], got %g", c.Feed.Sim.Rate)
	check(c.Feed.Sim.Skew > 1, "feed.sim.skew", "must be > 1, got %g", c.Feed.Sim.Skew)
	check(c.Feed.Sim.Universe >= 0 && c.Feed.Sim.Universe <= 1_000_000, "feed.sim.universe", "must be in [0, 1000000], got %d", c.Feed.Sim.Universe)
	check(c.Feed.Sim.Universe == 0 || len(c.Feed.Sim.Symbols) == 0, "feed.sim.universe", "set, and feed.sim.symbols too: use one")
	check(c.Feed.Sim.RelistEvery >= 0, "feed.sim.relist_every", "must be >= 0, got %s", c.Feed.Sim.RelistEvery)
	check(c.Feed.Sim.Backfill >= 0 && c.Feed.Sim.Backfill <= 24*time.Hour, "feed.sim.backfill", "must be in [0s, 24h], got %s", c.Feed.Sim.Backfill)
	check(c.Feed.Sim.BookChurn >= 0 && c.Feed.Sim.BookChurn <= 1, "feed.sim.book_churn", "must be in [0, 1], got %g", c.Feed.Sim.BookChurn)
	check(c.Feed.Sim.HaltsPerHour >= 0 && c.Feed.Sim.HaltsPerHour <= 3600, "feed.sim.halts_per_hour", "must be in [0, 3600], got %g", c.Feed.Sim.HaltsPerHour)
	check(c.Feed.Sim.HaltDuration > 0, "feed.sim.halt_duration", "must be > 0, got %s", c.Feed.Sim.HaltDuration)
	errs = append(errs, c.validateUniverse()...)
	check(c.Fanout.Shards >= 0 && c.Fanout.Shards <= 1024, "fanout.shards", "must be in [0, 1024], got %d", c.Fanout.Shards)
	check(c.Fanout.QueueBytes >= 4096, "fanout.queue_bytes", "must be >= 4096, got %d", c.Fanout.QueueBytes)
	check(c.Fanout.ConflateAt >= 0 && c.Fanout.ConflateAt <= c.Fanout.QueueBytes, "fanout.conflate_at", "must be in [0, fanout.queue_bytes (%d)], got %d", c.Fanout.QueueBytes, c.Fanout.ConflateAt)
	check(c.Fanout.InboxTicks > 0, "fanout.inbox_ticks", "must be > 0, got %d", c.Fanout.InboxTicks)
	check(validRateClasses(c.Fanout.RateClasses), "fanout.rate_classes", "want a non-empty list of distinct rates in (0, 1000], got %v", c.Fanout.RateClasses)
	check(c.Fanout.RatePhases >= 1 && c.Fanout.RatePhases <= 64, "fanout.rate_phases", "must be in [1, 64], got %d", c.Fanout.RatePhases)
	check(c.Server.AdminListen != c.Listen, "server.admin_listen", "must differ from listen, got %q for both", c.Listen)
	check(c.Entitlements.Delay > 0, "entitlements.delay", "must be > 0, got %s", c.Entitlements.Delay)
	check(c.Entitlements.DelayMaxBytes >= 1<<20, "entitlements.delay_max_bytes", "must be >= 1048576, got %d", c.Entitlements.DelayMaxBytes)
	check(c.Fanout.History >= 0 && c.Fanout.History <= 1<<16, "fanout.history", "must be in [0, 65536], got %d", c.Fanout.History)
	check(c.Fanout.MemoryBudget == 0 || c.Fanout.MemoryBudget >= minMemoryBudget, "fanout.memory_budget", "want 0 (the default) or at least 1MiB, got %d", c.Fanout.MemoryBudget)
	check(c.Bars.Grace > 0 && c.Bars.Grace <= time.Minute, "bars.grace", "must be in (0, 1m], got %s", c.Bars.Grace)
	check(c.Bars.History >= 0 && c.Bars.History <= 1<<16, "bars.history", "must be in [0, 65536], got %d", c.Bars.History)
	check(c.Book.Depth >= 1 && c.Book.Depth <= maxBookDepth, "book.depth", "must be in [1, %d], got %d", maxBookDepth, c.Book.Depth)
	check(c.Status.StaleAfter >= 0, "status.stale_after", "must be >= 0 (0: off), got %s", c.Status.StaleAfter)
	check(c.Client.MaxSymbols > 0, "client.max_symbols", "must be > 0, got %d", c.Client.MaxSymbols)
	check(c.Client.ReadLimit >= 256, "client.read_limit", "must be >= 256, got %d", c.Client.ReadLimit)
	check(c.Client.MsgRate > 0, "client.msg_rate", "must be > 0, got %g", c.Client.MsgRate)
	check(c.Client.MsgBurst > 0, "client.msg_burst", "must be > 0, got %d", c.Client.MsgBurst)
	check(c.Client.FloodBurst >= c.Client.MsgBurst, "client.flood_burst", "must be >= client.msg_burst (%d), got %d", c.Client.MsgBurst, c.Client.FloodBurst)
	check(c.Client.InboundBytes >= c.Client.ReadLimit, "client.inbound_bytes", "must be >= client.read_limit (%d), got %d", c.Client.ReadLimit, c.Client.InboundBytes)
	check(c.Client.InboundFrames > 0, "client.inbound_frames", "must be > 0, got %g", c.Client.InboundFrames)
	check(c.Client.InboundWindow >= time.Second, "client.inbound_window", "must be >= 1s, got %s", c.Client.InboundWindow)
	check(c.Client.MaxFrameBytes >= 1024, "client.max_frame_bytes", "must be >= 1024, got %d", c.Client.MaxFrameBytes)
	check(c.Client.MaxFrameBytes <= c.Fanout.QueueBytes, "client.max_frame_bytes", "must not exceed fanout.queue_bytes (%d), got %d", c.Fanout.QueueBytes, c.Client.MaxFrameBytes)
	check(c.Client.WriteTimeout > 0, "client.write_timeout", "must be > 0, got %s", c.Client.WriteTimeout)
	check(c.Client.MaxStaleness >= 100*time.Millisecond && c.Client.MaxStaleness <= time.Minute, "client.max_staleness", "must be in [100ms, 1m], got %s", c.Client.MaxStaleness)
	check(c.Client.PingInterval > 0, "client.ping_interval", "must be > 0, got %s", c.Client.PingInterval)
	check(c.Client.PongTimeout > 0, "client.pong_timeout", "must be > 0, got %s", c.Client.PongTimeout)
	errs = append(errs, c.Auth.validate()...)
	return errors.Join(errs...)
}

// validateUniverse checks the universe keys, and the symbols listed at
// start against them; each error names its key.
func (c *Config) validateUniverse() []error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
		}
	}
	u := &c.Universe
	pattern, err := c.symbolPattern()
	check(err == nil, "universe.pattern", "%v", err)
	check(u.MaxSymbols >= 1 && u.MaxSymbols <= 1_000_000, "universe.max_symbols", "must be in [1, 1000000], got %d", u.MaxSymbols)
	check(u.RetireAfter == 0 || u.RetireAfter >= 100*time.Millisecond, "universe.retire_after", "must be 0s (never) or at least 100ms, got %s", u.RetireAfter)
	key, listed, n := "feed.nats.symbols", c.Feed.NATS.Symbols, len(c.Feed.NATS.Symbols)
	if c.Feed.Source == "sim" {
		key, listed, n = "feed.sim.symbols", c.Feed.Sim.Symbols, max(len(c.Feed.Sim.Symbols), c.Feed.Sim.Universe)
		if c.Feed.Sim.Universe > 0 {
			key = "feed.sim.universe"
		}
	}
	check(n <= u.MaxSymbols, key, "lists %d symbols, more than universe.max_symbols (%d)", n, u.MaxSymbols)
	for _, sym := range listed {
		check(pattern == nil || pattern.MatchString(sym), key, "%q does not match universe.pattern %q", sym, u.Pattern)
	}
	return errs
}

// symbolPattern compiles universe.pattern to match whole symbols; nil for
// none.
func (c *Config) symbolPattern() (*regexp.Regexp, error) {
	if c.Universe.Pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(`^(?:` + c.Universe.Pattern + `)$`)
	if err != nil {
		return nil, fmt.Errorf("want an RE2 regular expression, got %q: %v", c.Universe.Pattern, err)
	}
	return re, nil
}

// maxBookDepth bounds book.depth: past it a book message outgrows what a
// client should take as one update.
const maxBookDepth = 100

// validate checks the auth keys; each error names its key. Whether the key
// files hold usable keys is checked by newVerifier, at start-up and by
// -check-config.
func (a *AuthConfig) validate() []error {
	var errs []error
	check := func(ok bool, key, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{key}, args...)...))
		}
	}
	check(oneOf(a.Mode, "none", "jwt"), "auth.mode", "want none or jwt, got %q", a.Mode)
	check(len(a.Algorithms) > 0, "auth.algorithms", "must list at least one algorithm")
	for _, alg := range a.Algorithms {
		none := strings.EqualFold(alg, "none")
		check(!none, "auth.algorithms", "%q is never accepted: an unsigned token proves nothing", alg)
		check(none || auth.KnownAlgorithm(alg), "auth.algorithms", "unknown algorithm %q (want HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA)", alg)
	}
	check(a.HMACSecretFile == "" || a.HMACSecret == "", "auth.hmac_secret_file", "want it or %s, not both, got %q and the variable", hmacSecretEnv, a.HMACSecretFile)
	hasKey := a.HMACSecretFile != "" || a.HMACSecret != "" || len(a.PublicKeys) > 0 || a.JWKSFile != ""
	check(a.Mode != "jwt" || hasKey, "auth.mode", "jwt needs a key: set auth.hmac_secret_file (or %s), auth.public_keys or auth.jwks_file", hmacSecretEnv)
	check(a.Leeway >= 0, "auth.leeway", "must be >= 0, got %s", a.Leeway)
	check(oneOf(a.DefaultTier, "realtime", "delayed"), "auth.default_tier", "want realtime or delayed, got %q", a.DefaultTier)
	check(a.FirstMessageTimeout > 0, "auth.first_message_timeout", "must be > 0, got %s", a.FirstMessageTimeout)
	return errs
}

// trustedProxies parses server.trusted_proxies: CIDRs, or single
// addresses meaning just that host.
func (c *Config) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.Server.TrustedProxies {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("want CIDRs like 10.0.0.0/8 or addresses, got %q", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func validRateClasses(rates []float64) bool {
	seen := make(map[float64]bool, len(rates))
	for _, r := range rates {
		if r <= 0 || r > 1000 || seen[r] {
			return false
		}
		seen[r] = true
	}
	return len(rates) > 0
}

func oneOf(s string, opts ...string) bool {
	for _, o := range opts {
		if s == o {
			return true
		}
	}
	return false
}

// knownKeys is every config key, as the embedded defaults name them.
func knownKeys() []string {
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(tickgate.DefaultConfig)); err != nil {
		return nil
	}
	return v.AllKeys()
}

// unknownKeysError refuses the keys of a config file the gateway does not
// know, naming for each the nearest known one: a misspelt key would
// otherwise leave its setting at the default without a word.
func unknownKeysError(path string, unknown []string) error {
	known := knownKeys()
	var errs []error
	for _, k := range unknown {
		errs = append(errs, fmt.Errorf("config: %s: unknown key %q (nearest known key: %q)", path, k, nearest(k, known)))
	}
	return errors.Join(errs...)
}

// envName is the TICKGATE_ variable that sets key.
func envName(key string) string {
	return "TICKGATE_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// unknownEnv returns, for each TICKGATE_ variable in environ that names no
// config key, the variable and the nearest one that does.
func unknownEnv(environ []string) (names, nearestNames []string) {
	known := []string{hmacSecretEnv}
	for _, k := range knownKeys() {
		known = append(known, envName(k))
	}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "TICKGATE_") && !slices.Contains(known, name) {
			names = append(names, name)
			nearestNames = append(nearestNames, nearest(name, known))
		}
	}
	return names, nearestNames
}

// nearest is the candidate with the least edit distance to s.
func nearest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(s, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
