package nats

import (
	"context"
	"errors"
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
	// Symbols is the symbol universe, required. A message for any other
	// symbol is counted as a decode error and dropped.
	Symbols []string
	// ReconnectWait is the first delay before reconnecting once every known
	// server has failed; it doubles per round, with jitter, up to 5s. 0 means
	// 250ms.
	ReconnectWait time.Duration
	// Name is the connection name servers show in their monitoring. ""
	// means "tickgate".
	Name string
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

// validate reports the first problem with a defaulted Config.
func (cfg Config) validate() error {
	if !validSubject(cfg.Prefix) {
		return fmt.Errorf("nats: prefix %q is not a literal subject", cfg.Prefix)
	}
	if cfg.ReconnectWait < 0 {
		return fmt.Errorf("nats: negative reconnect wait %v", cfg.ReconnectWait)
	}
	if len(cfg.Symbols) == 0 {
		return errors.New("nats: no symbols")
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

// Source is a feed.Source reading ticks from NATS. Symbols and Ready are
// safe for concurrent use; Run may be called once.
//
// Subjects: a tick for SYM is published on Prefix.SYM. A symbol may contain
// '.', as BRK.B does, which makes it two NATS tokens (ticks.BRK.B), so
// Source subscribes once to Prefix.> and takes the symbol to be everything
// after "Prefix.", rather than one token. The payload's own symbol must
// match it.
type Source struct {
	url      string // comma-separated, as nats.Connect takes it
	prefix   string // with the trailing '.'
	wait     time.Duration
	name     string
	names    []string
	known    map[string]string // symbol → its entry in names, to intern
	pending  int               // subscription channel capacity; tests lower it
	log      *slog.Logger
	metrics  *metrics
	warn     rate.Sometimes // rate-limits bad-payload warnings
	connWarn rate.Sometimes // rate-limits warnings from nats.go callbacks

	running atomic.Bool
	link    link
	kick    chan struct{} // cap 1: a (re)connect asks Run to confirm the subscription

	// sub and dropBase back the dropped-messages counter: sub while Run is
	// subscribed, dropBase (the final count) once it has closed.
	sub      atomic.Pointer[natsgo.Subscription]
	dropBase atomic.Int64
}

var (
	_ feed.Source  = (*Source)(nil)
	_ feed.Readier = (*Source)(nil)
)

// New checks cfg, fills in its defaults and returns a Source that registers
// its metrics with reg and logs to log. It does not connect; Run does.
func New(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Source, error) {
	cfg = cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Source{
		url:      strings.Join(cfg.URLs, ","),
		prefix:   cfg.Prefix + ".",
		wait:     cfg.ReconnectWait,
		name:     cfg.Name,
		names:    append([]string(nil), cfg.Symbols...),
		known:    make(map[string]string, len(cfg.Symbols)),
		pending:  pendingMsgs,
		log:      log.With("subsystem", "feed", "source", "nats"),
		warn:     rate.Sometimes{Interval: time.Second},
		connWarn: rate.Sometimes{Interval: time.Second},
		kick:     make(chan struct{}, 1),
	}
	for _, sym := range s.names {
		s.known[sym] = sym
	}
	m, err := newMetrics(reg, s.dropped)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// Symbols returns a copy of the configured symbol universe.
func (s *Source) Symbols() []string {
	return append([]string(nil), s.names...)
}

// Ready reports whether a server has confirmed the subscription and the
// connection to it is up. It is false before Run and while reconnecting.
func (s *Source) Ready() bool {
	return s.link.ready()
}

// Run connects, subscribes to Prefix.> and publishes each valid tick into
// sink until ctx is done, then closes the connection and returns nil.
//
// Run does not fail when no server is reachable: it keeps retrying with
// backoff, unready, for as long as ctx lives, and likewise after a lost
// connection. It returns an error only if it cannot start, or if nats.go
// gives up on the connection (for example after repeated auth failures).
// Upstream seq and ts are passed on unchanged.
func (s *Source) Run(ctx context.Context, sink feed.Sink) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("nats: Run called more than once")
	}
	closed := make(chan struct{})
	nc, err := natsgo.Connect(s.url, s.options(closed)...)
	if err != nil {
		return fmt.Errorf("nats: connect: %w", err) // not the URLs: they may hold credentials
	}
	defer s.close(nc, closed)
	msgs := make(chan *natsgo.Msg, s.pending)
	sub, err := nc.ChanSubscribe(s.prefix+">", msgs)
	if err != nil {
		return fmt.Errorf("nats: subscribe %s>: %w", s.prefix, err)
	}
	s.sub.Store(sub)
	s.kickRun() // the connect callback may have fired before the subscribe
	return s.loop(ctx, nc, msgs, sink, closed)
}

// loop is Run's receive loop. Between messages it confirms the
// subscription after each (re)connect, retrying while a confirmation fails.
func (s *Source) loop(ctx context.Context, nc *natsgo.Conn, msgs <-chan *natsgo.Msg, sink feed.Sink, closed <-chan struct{}) error {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-closed:
			return fmt.Errorf("nats: connection closed: %w", nc.LastError())
		case m := <-msgs:
			s.handle(m, sink)
		case <-s.kick:
			retry = s.confirm(nc)
		case <-retry:
			retry = s.confirm(nc)
		}
	}
}

// handle decodes one message and publishes its tick, or counts and drops it.
func (s *Source) handle(m *natsgo.Msg, sink feed.Sink) {
	t, err := s.decode(m.Subject, m.Data)
	if err != nil {
		s.metrics.decodeErrors.Inc()
		s.warn.Do(func() {
			s.log.Warn("dropped bad tick (warnings limited to 1/s)", "subject", m.Subject, "err", err)
		})
		return
	}
	sink.Publish(t)
}

// decode parses the tick in data, received on subject, and checks that it
// is for the subject's symbol and that the symbol is in the universe.
func (s *Source) decode(subject string, data []byte) (feed.Tick, error) {
	sym, ok := strings.CutPrefix(subject, s.prefix)
	if ok {
		sym, ok = s.known[sym]
	}
	if !ok {
		return feed.Tick{}, fmt.Errorf("nats: %w: subject %q names no known symbol", feed.ErrBadTick, subject)
	}
	t, err := feed.DecodeJSON(data)
	if err != nil {
		return feed.Tick{}, fmt.Errorf("nats: %w", err)
	}
	if t.Symbol != sym {
		return feed.Tick{}, fmt.Errorf("nats: %w: symbol %q on subject %q", feed.ErrBadTick, t.Symbol, subject)
	}
	t.Symbol = sym // the long-lived copy: the engine keeps the last tick
	return t, nil
}

// close closes nc and waits for its closed callback, so that nats.go's
// callback goroutine has finished with s when Run returns. It closes rather
// than drains: the messages a drain would deliver have no sink to go to
// once Run has stopped.
func (s *Source) close(nc *natsgo.Conn, closed <-chan struct{}) {
	if sub := s.sub.Load(); sub != nil {
		if n, err := sub.Dropped(); err == nil {
			s.dropBase.Store(int64(n))
		}
		s.sub.Store(nil)
	}
	nc.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		s.log.Warn("closed callback did not run within 5s")
	}
	s.link.down()
}

// dropped is the number of messages nats.go dropped for a full channel.
func (s *Source) dropped() float64 {
	if sub := s.sub.Load(); sub != nil {
		if n, err := sub.Dropped(); err == nil {
			return float64(n)
		}
	}
	return float64(s.dropBase.Load())
}
