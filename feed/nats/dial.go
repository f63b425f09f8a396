package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// Defaults of PublisherConfig.
const (
	defaultStreamHistory = 1024
	defaultPublisherName = "tickgate-publish"
)

// PublisherConfig locates the servers, subjects and stream a Publisher
// made by Connect writes to.
type PublisherConfig struct {
	// URLs, Prefix and ReconnectWait are as in Config, with the same
	// defaults.
	URLs          []string
	Prefix        string
	ReconnectWait time.Duration
	// Name is the connection name. "" means "tickgate-publish".
	Name string
	// Stream names the JetStream stream the ticks go into; "" means core
	// NATS only. Connect creates the stream, capturing Prefix.>, if it does
	// not exist; an existing one must capture Prefix.> and is left as is.
	Stream string
	// StreamHistory is max_msgs_per_subject of a stream Connect creates:
	// the ticks per symbol a starting gateway replays, so match
	// fanout.history. 0 means 1024.
	StreamHistory int64
	// StreamReplicas is the replica count of a stream Connect creates. 0
	// means 1; use 3 on a 3-node cluster.
	StreamReplicas int
	// AckWindow bounds the ticks published to Stream whose ack has not yet
	// come; Publish waits for room past it. 0 means 1024.
	AckWindow int
	// Epoch is the publisher's run epoch, carried by its heartbeats and
	// shown by its metrics; "" means heartbeats without one. It must be a
	// valid epoch (feed.ValidEpoch). The ticks carry their own.
	Epoch string
	// Metrics, if not nil, gets the Publisher's collectors.
	Metrics prometheus.Registerer
}

// Connect connects to cfg.URLs as Source does (dialer: retry for ever,
// jittered backoff, pings) but with no reconnect buffer, so that Publish
// drops and counts ticks while disconnected; with cfg.Stream it then makes
// sure the stream exists, retrying until ctx is done while no server
// answers. Close the Publisher when done.
func Connect(ctx context.Context, cfg PublisherConfig, log *slog.Logger) (*Publisher, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	p := newPublisher(cfg.Prefix, log.With("subsystem", "publish"))
	p.epoch, p.stream = cfg.Epoch, cfg.Stream
	if cfg.Metrics != nil {
		if err := newPublisherMetrics(cfg.Metrics, p); err != nil {
			return nil, err
		}
	}
	nc, err := dialer{
		url:           strings.Join(cfg.URLs, ","),
		name:          cfg.Name,
		wait:          cfg.ReconnectWait,
		dropWhileDown: true,
		connected:     p.connected,
		reconnected:   p.connected,
		disconnected:  p.disconnected,
	}.dial()
	if err != nil {
		return nil, err
	}
	p.nc, p.owned = nc, true
	if cfg.Stream != "" {
		if err := p.ensureStream(ctx, cfg); err != nil {
			nc.Close()
			return nil, err
		}
		if p.acks, err = newAcker(nc, int(orDefault(int64(cfg.AckWindow), defaultAckWindow)), p.ackFailed); err != nil {
			nc.Close()
			return nil, fmt.Errorf("nats: subscribe for acks: %w", err)
		}
		p.shown.Store(p.acks)
	}
	return p, nil
}

// defaults fills in cfg's zero fields as Config.defaults does for the
// fields they share (a negative ReconnectWait too, here) and checks them
// as Config does.
func (cfg *PublisherConfig) defaults() error {
	c := Config{URLs: cfg.URLs, Prefix: cfg.Prefix, ReconnectWait: max(cfg.ReconnectWait, 0), Name: cfg.Name, Stream: cfg.Stream}
	if c.Name == "" {
		c.Name = defaultPublisherName
	}
	c = c.defaults()
	cfg.URLs, cfg.Prefix, cfg.ReconnectWait, cfg.Name = c.URLs, c.Prefix, c.ReconnectWait, c.Name
	switch {
	case cfg.Epoch != "" && !feed.ValidEpoch(cfg.Epoch):
		return fmt.Errorf("nats: epoch %q: want 1-32 of A-Z a-z 0-9 _ -", cfg.Epoch)
	case cfg.AckWindow < 0:
		return fmt.Errorf("nats: negative ack window %d", cfg.AckWindow)
	}
	return c.validateConn()
}

// connected logs a (re)connect and what the outage cost.
func (p *Publisher) connected(nc *natsgo.Conn) {
	p.log.Info("connected", "url", nc.ConnectedUrlRedacted(), "dropped_while_down", p.dropped.Load()-p.downAt.Load())
}

// disconnected logs a lost connection; Close reports a nil err. The acks
// then awaited will never come.
func (p *Publisher) disconnected(_ *natsgo.Conn, err error) {
	p.downAt.Store(p.dropped.Load())
	if a := p.shown.Load(); a != nil {
		a.lost.Store(true)
	}
	if err != nil {
		p.log.Warn("disconnected: dropping ticks until reconnected", "err", err)
	}
}

// Close closes the connection if Connect made it.
func (p *Publisher) Close() {
	if p.owned {
		p.nc.Close()
	}
}

// Connected reports whether the connection is up.
func (p *Publisher) Connected() bool { return p.nc.IsConnected() }

// ensureStream creates cfg.Stream if it does not exist, or checks that the
// existing one captures Prefix.>. It retries while no server answers.
func (p *Publisher) ensureStream(ctx context.Context, cfg PublisherConfig) error {
	js, err := jetstream.New(p.nc)
	if err != nil {
		return fmt.Errorf("nats: jetstream: %w", err)
	}
	want := jetstream.StreamConfig{
		Name:              cfg.Stream,
		Subjects:          []string{cfg.Prefix + ".>"},
		MaxMsgsPerSubject: orDefault(cfg.StreamHistory, defaultStreamHistory),
		Replicas:          int(orDefault(int64(cfg.StreamReplicas), 1)),
		Storage:           jetstream.FileStorage,
		Discard:           jetstream.DiscardOld,
	}
	delay := backoff(cfg.ReconnectWait, maxReconnectWait)
	for attempt := 1; ; attempt++ {
		err = p.ensureOnce(ctx, js, want)
		if err == nil || !retryable(err) {
			return err
		}
		p.log.Warn("stream not ready, retrying", "stream", cfg.Stream, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats: stream %s: %w", cfg.Stream, ctx.Err())
		case <-time.After(delay(attempt)):
		}
	}
}

// ensureOnce is one attempt of ensureStream.
func (p *Publisher) ensureOnce(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateStream(ctx, want); err != nil {
			return fmt.Errorf("nats: create stream %s: %w", want.Name, err)
		}
		p.log.Info("created stream", "stream", want.Name, "subjects", want.Subjects, "max_msgs_per_subject", want.MaxMsgsPerSubject)
		return nil
	}
	if errors.Is(err, natsgo.ErrNoResponders) {
		return fmt.Errorf("nats: stream %s: is JetStream enabled on the server? %w", want.Name, err)
	}
	if err != nil {
		return fmt.Errorf("nats: stream %s: %w", want.Name, err)
	}
	for _, subj := range s.CachedInfo().Config.Subjects {
		if subjectCovers(subj, want.Subjects[0]) {
			return nil
		}
	}
	return fmt.Errorf("nats: stream %s: %w: its subjects %q do not capture %s", want.Name, errStreamSubjects, s.CachedInfo().Config.Subjects, want.Subjects[0])
}

// errStreamSubjects marks a stream that exists but would not store ticks.
var errStreamSubjects = errors.New("stream does not capture the prefix")

// retryable reports whether ensureStream should try again: anything but a
// stream that exists with the wrong subjects, a server without JetStream
// or a refused configuration.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, errStreamSubjects), errors.Is(err, jetstream.ErrJetStreamNotEnabled):
		return false
	case errors.Is(err, natsgo.ErrNoResponders):
		return false // connected, and nothing serves the JetStream API
	case errors.As(err, &apiErr) && apiErr.Code == 400:
		return false
	}
	return true
}

// orDefault returns v, or def when v <= 0.
func orDefault(v, def int64) int64 {
	if v <= 0 {
		return def
	}
	return v
}

// subjectCovers reports whether every subject matching sub also matches
// pattern (both may hold wildcards).
func subjectCovers(pattern, sub string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(sub, ".")
	for i, p := range pt {
		switch {
		case p == ">":
			return i < len(st)
		case i >= len(st):
			return false
		case st[i] == ">":
			return false // sub goes on past what pattern's token matches
		case p != "*" && p != st[i]:
			return false
		}
	}
	return len(pt) == len(st)
}
