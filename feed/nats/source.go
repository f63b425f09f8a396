package nats

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tickgate/tickgate/feed"
)

// Defaults and limits for Config.
const (
	defaultPrefix        = "ticks"
	defaultReconnectWait = 250 * time.Millisecond
	maxReconnectWait     = 5 * time.Second

	// pendingMsgs bounds the messages nats.go holds for Run. It is the
	// capacity of the subscription's channel: nats.go does not apply
	// SetPendingLimits to channel subscriptions, it drops (and counts) a
	// message that finds the channel full. At ~150 bytes a tick this is
	// about 10 MB, a few seconds of a busy feed.
	pendingMsgs = 64 * 1024
)

// Config locates the NATS servers and subjects to read ticks from.
type Config struct {
	// URLs are the servers to connect to, any of which will do; nats.go also
	// learns the rest of a cluster from the server. Nil or empty means
	// nats.DefaultURL (nats://127.0.0.1:4222).
	URLs []string
	// Prefix is the subject prefix: a tick for SYM arrives on Prefix.SYM.
	// "" means "ticks". It must not contain wildcards, spaces or empty tokens.
	Prefix string
	// Symbols are listed before any message names them (Listings); nil
	// lists none. Every other symbol is listed by its first tick or
	// listing (Prefix._ref.SYM); what the gateway accepts is the engine's
	// to judge.
	Symbols []string
	// ReconnectWait is the first delay before reconnecting once every known
	// server has failed; it doubles per round, with jitter, up to 5s. 0 means
	// 250ms.
	ReconnectWait time.Duration
	// Name is the connection name servers show in their monitoring. ""
	// means "tickgate".
	Name string
	// Stream names a JetStream stream that captures Prefix.>. "" means core
	// NATS: ticks published while the gateway is away are lost to it. With a
	// stream, Run replays what the stream holds before it reports ready, so
	// the engine starts with every symbol's last tick and history, and after
	// a reconnect it resumes after the last stream sequence it had, so an
	// outage shorter than the stream's retention loses nothing.
	Stream string
	// StallAfter is how long a connected source may hear nothing, neither
	// ticks nor the publisher's heartbeats on Prefix._hb, before it reports
	// itself stalled. 0 means never: for publishers that send no heartbeats.
	StallAfter time.Duration
}

// defaults returns cfg with its zero fields replaced by their defaults.
func (cfg Config) defaults() Config {
	if len(cfg.URLs) == 0 {
		cfg.URLs = []string{natsgo.DefaultURL}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	if cfg.ReconnectWait == 0 {
		cfg.ReconnectWait = defaultReconnectWait
	}
	if cfg.Name == "" {
		cfg.Name = "tickgate"
	}
	return cfg
}

// validateConn reports the first problem with the fields of a defaulted
// Config that the Publisher's connection shares: prefix, reconnect wait
// and stream name.
func (cfg Config) validateConn() error {
	if !validSubject(cfg.Prefix) {
		return fmt.Errorf("nats: prefix %q is not a literal subject", cfg.Prefix)
	}
	if cfg.ReconnectWait < 0 {
		return fmt.Errorf("nats: negative reconnect wait %v", cfg.ReconnectWait)
	}
	if cfg.Stream != "" && !ValidStreamName(cfg.Stream) {
		return fmt.Errorf("nats: stream name %q: want letters, digits, '-' or '_'", cfg.Stream)
	}
	return nil
}

// validate reports the first problem with a defaulted Config.
func (cfg Config) validate() error {
	if err := cfg.validateConn(); err != nil {
		return err
	}
	if cfg.StallAfter < 0 {
		return fmt.Errorf("nats: negative stall limit %v", cfg.StallAfter)
	}
	seen := make(map[string]bool, len(cfg.Symbols))
	for _, sym := range cfg.Symbols {
		if !feed.ValidSymbol(sym) || !validSubject(sym) {
			return fmt.Errorf("nats: invalid symbol %q", sym)
		}
		if seen[sym] {
			return fmt.Errorf("nats: duplicate symbol %q", sym)
		}
		seen[sym] = true
	}
	return nil
}

// validSubject reports whether s can be used as literal subject tokens: no
// empty token (so a symbol may not start or end with '.' or hold ".."), no
// wildcard and no white space.
func validSubject(s string) bool {
	if s == "" || strings.ContainsAny(s, "*> \t\r\n") {
		return false
	}
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "" {
			return false
		}
	}
	return true
}

// ValidStreamName reports whether s is a JetStream stream name that needs
// no quoting anywhere: letters, digits, '-' and '_'.
func ValidStreamName(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// Source is a feed.Source reading ticks, listings, and book and status
// messages from NATS. Listings, Ready and Health are safe for concurrent
// use; Run may be called once.
//
// Subjects: a tick for SYM is published on Prefix.SYM, its book messages on
// Prefix.book.SYM and its status on Prefix.status.SYM (depth.go), its
// listings and delistings (feed.Listing's upstream form) on
// Prefix._ref.SYM. A symbol may contain '.', as BRK.B does, which makes it
// two NATS tokens (ticks.BRK.B), so Source subscribes once to Prefix.> and
// takes the symbol to be everything after "Prefix." (or "Prefix.book."
// ...), rather than one token. The payload's own symbol must match it.
// Prefix._hb carries the publisher's heartbeats; "_hb", "_ref", "book" and
// "status" are never symbols, which are upper case. One subscription keeps
// a symbol's messages of every kind in the order they were published.
type Source struct {
	url        string // comma-separated, as nats.Connect takes it
	prefix     string // with the trailing '.'
	stream     string // "" for core NATS
	stallAfter time.Duration
	wait       time.Duration
	name       string
	names      []string // listed at the start
	pending    int      // subscription channel capacity; tests lower it
	log        *slog.Logger
	metrics    *metrics
	refusals   *feed.Refusals // Run's goroutine only
	connWarn   rate.Sometimes // rate-limits warnings from nats.go callbacks

	running atomic.Bool
	link    *link
	kick    chan struct{} // cap 1: a (re)connect asks Run to confirm the subscription

	// sub and dropBase back the dropped-messages counter: sub while Run is
	// subscribed, dropBase (the final count) once it has closed.
	sub      atomic.Pointer[natsgo.Subscription]
	dropBase atomic.Int64
}

var (
	_ feed.Source  = (*Source)(nil)
	_ feed.Watcher = (*Source)(nil)
)

// New checks cfg, fills in its defaults and returns a Source that registers
// its metrics with reg and logs to log. It does not connect; Run does.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Source, error) {
	cfg = cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Source{
		url:        strings.Join(cfg.URLs, ","),
		prefix:     cfg.Prefix + ".",
		stream:     cfg.Stream,
		stallAfter: cfg.StallAfter,
		wait:       cfg.ReconnectWait,
		name:       cfg.Name,
		names:      append([]string(nil), cfg.Symbols...),
		pending:    pendingMsgs,
		log:        log.With("subsystem", "feed", "source", "nats"),
		connWarn:   rate.Sometimes{Interval: time.Second},
		kick:       make(chan struct{}, 1),
		link:       newLink(),
	}
	m, err := newMetrics(reg, s.dropped, s.link.isStalled)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.refusals, err = feed.NewRefusals(reg, "nats", s.log); err != nil {
		return nil, err
	}
	return s, nil
}

// Listings lists Config.Symbols, with no previous close: the rest come
// from the feed.
func (s *Source) Listings() []feed.Listing { return feed.Listed(s.names...) }

// Ready reports whether Health is feed.Up: a server has confirmed the
// subscription (with a stream: Run has replayed what the stream held when
// it started), the connection is up, the feed is not stalled and, if the
// connection was ever lost, a tick or heartbeat has been heard since. It
// is false before Run, while reconnecting, and after a reconnect until
// the feed is heard: a restarted NATS with no publisher is not ready.
func (s *Source) Ready() bool {
	h, _ := s.link.health()
	return h == feed.Up
}

// Health returns the source's health and a channel closed at its next
// change (feed.Watcher).
func (s *Source) Health() (feed.Health, <-chan struct{}) {
	return s.link.health()
}
