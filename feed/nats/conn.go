package nats

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Connection tuning that Config does not expose.
const (
	// pingInterval and the nats.go default of 2 outstanding pings notice a
	// silently dead server in about 10-15s instead of the default 4 minutes.
	pingInterval = 5 * time.Second
	// flushTimeout bounds the round trip that confirms the subscription.
	flushTimeout = 2 * time.Second
)

// Dial connects to the NATS servers at urls (nil means
// nats.DefaultURL) the way Run connects, for a Publisher: it never gives
// up, retrying a server that is not up yet and reconnecting after an
// outage with backoff from wait (0 means 250ms) doubling up to 5s with
// jitter, and pings so that a silently dead server is noticed. name is
// the connection name servers show. The caller closes the connection.
func Dial(urls []string, name string, wait time.Duration) (*natsgo.Conn, error) {
	cfg := Config{URLs: urls, Name: name, ReconnectWait: wait}.defaults()
	if cfg.ReconnectWait < 0 {
		return nil, fmt.Errorf("nats: negative reconnect wait %v", cfg.ReconnectWait)
	}
	url := strings.Join(cfg.URLs, ",")
	nc, err := natsgo.Connect(url, connOptions(cfg.Name, cfg.ReconnectWait)...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect %s: %w", url, err)
	}
	return nc, nil
}

// connOptions are the options every tickgate connection shares: retry
// forever with jittered backoff from wait, and ping every pingInterval.
func connOptions(name string, wait time.Duration) []natsgo.Option {
	return []natsgo.Option{
		natsgo.Name(name),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.CustomReconnectDelay(backoff(wait, maxReconnectWait)),
		natsgo.PingInterval(pingInterval),
	}
}

// options are the nats.go options of Run's connection. closed is closed by
// the closed callback, the last callback nats.go makes.
func (s *Source) options(closed chan<- struct{}) []natsgo.Option {
	return append(connOptions(s.name, s.wait),
		natsgo.ConnectHandler(s.connected),
		natsgo.ReconnectHandler(s.reconnected),
		natsgo.DisconnectErrHandler(s.disconnected),
		natsgo.ReconnectErrHandler(s.connectFailed),
		natsgo.ErrorHandler(s.asyncError),
		natsgo.ClosedHandler(func(*natsgo.Conn) { close(closed) }),
	)
}

// backoff returns nats.go's delay before each round of reconnect attempts
// (a round tries every known server once; attempts counts rounds from 1):
// base doubling per round up to limit, drawn uniformly from the upper half
// so that gateways restarted together do not reconnect in step.
func backoff(base, limit time.Duration) func(attempts int) time.Duration {
	limit = max(limit, base)
	return func(attempts int) time.Duration {
		d := limit
		if n := attempts - 1; n < 32 && base<<n < limit && base<<n > 0 {
			d = base << n
		}
		return d/2 + rand.N(d/2+1)
	}
}

// The callbacks below run on nats.go's callback goroutine, never Run's.

// connected runs once the first connection is up, at once or after retries.
func (s *Source) connected(nc *natsgo.Conn) {
	s.link.up()
	s.log.Info("connected", "url", nc.ConnectedUrlRedacted())
	s.kickRun()
}

// reconnected runs when a lost connection is re-established, perhaps to
// another server. nats.go has re-sent the subscription by then.
func (s *Source) reconnected(nc *natsgo.Conn) {
	s.link.up()
	s.metrics.reconnects.Inc()
	s.log.Info("reconnected", "url", nc.ConnectedUrlRedacted())
	s.kickRun()
}

// disconnected runs when the connection is lost, and on Close with a nil err.
func (s *Source) disconnected(_ *natsgo.Conn, err error) {
	s.link.down()
	if err == nil {
		return // Close: Run is stopping
	}
	s.metrics.disconnects.Inc()
	s.log.Warn("disconnected, reconnecting", "err", err)
}

// connectFailed runs after each failed connect attempt.
func (s *Source) connectFailed(_ *natsgo.Conn, err error) {
	s.metrics.connectErrors.Inc()
	s.connWarn.Do(func() {
		s.log.Warn("connect failed, retrying (warnings limited to 1/s)", "err", err)
	})
}

// asyncError runs for errors not tied to a call, notably ErrSlowConsumer
// when the subscription channel is full; those drops are counted by the
// dropped-messages metric.
func (s *Source) asyncError(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
	s.connWarn.Do(func() {
		s.log.Warn("nats error (warnings limited to 1/s)", "err", err)
	})
}

// kickRun asks Run to confirm the subscription, without blocking.
func (s *Source) kickRun() {
	select {
	case s.kick <- struct{}{}:
	default: // a confirmation is already pending
	}
}

// confirm makes a round trip to the server. A server handles a client's
// protocol in order, so a PONG means it has the subscription; only then is
// the source ready. It returns a channel that fires when confirm should be
// retried, or nil.
func (s *Source) confirm(nc *natsgo.Conn) <-chan time.Time {
	epoch, ok := s.link.connectedEpoch()
	if !ok {
		return nil // not connected: the next connect kicks again
	}
	if err := nc.FlushTimeout(flushTimeout); err != nil {
		s.log.Warn("subscription not confirmed, retrying", "err", err)
		return time.After(s.wait)
	}
	s.link.subscribed(epoch)
	return nil
}

// link is the readiness state shared by Run and the nats.go callbacks.
type link struct {
	mu        sync.Mutex // protects the fields below
	epoch     uint64     // bumped by every connect and disconnect
	connected bool
	confirmed bool // a round trip after the subscription succeeded in this epoch
}

// up records a new connection; the subscription is not yet confirmed on it.
func (l *link) up() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.connected, l.confirmed = true, false
}

// down records a lost or closed connection.
func (l *link) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.epoch++
	l.connected, l.confirmed = false, false
}

// connectedEpoch returns the current epoch if connected.
func (l *link) connectedEpoch() (uint64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, l.connected
}

// subscribed marks the subscription confirmed, unless the connection
// changed since epoch (then the confirmation was for an older one).
func (l *link) subscribed(epoch uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.epoch == epoch && l.connected {
		l.confirmed = true
	}
}

// ready reports whether the subscription is confirmed on a live connection.
func (l *link) ready() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.connected && l.confirmed
}
