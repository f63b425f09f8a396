package nats

import (
	"fmt"
	"math/rand/v2"
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

// dialer is the one recipe for a tickgate NATS connection, the Source's
// and the Publisher's alike: retry for ever, from the first attempt on,
// with jittered backoff from wait; pings every pingInterval; and its
// owner's callbacks (a nil one is left to nats.go's default).
type dialer struct {
	url  string // comma-separated, as nats.Connect takes it
	name string
	wait time.Duration
	// dropWhileDown gives the connection no reconnect buffer, so that a
	// publish while disconnected fails at once, to be counted, rather
	// than being held for a server that may not come back.
	dropWhileDown bool

	connected, reconnected      natsgo.ConnHandler
	disconnected, connectFailed natsgo.ConnErrHandler
	asyncError                  natsgo.ErrHandler
	closed                      natsgo.ConnHandler // the last callback nats.go makes
}

// dial connects as d says. With RetryOnFailedConnect it fails only on a
// bad URL or option, not because no server answers yet.
func (d dialer) dial() (*natsgo.Conn, error) {
	opts := []natsgo.Option{
		natsgo.Name(d.name),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.CustomReconnectDelay(backoff(d.wait, maxReconnectWait)),
		natsgo.PingInterval(pingInterval),
		natsgo.ConnectHandler(d.connected),
		natsgo.ReconnectHandler(d.reconnected),
		natsgo.DisconnectErrHandler(d.disconnected),
		natsgo.ReconnectErrHandler(d.connectFailed),
		natsgo.ErrorHandler(d.asyncError),
		natsgo.ClosedHandler(d.closed),
	}
	if d.dropWhileDown {
		opts = append(opts, natsgo.ReconnectBufSize(-1))
	}
	nc, err := natsgo.Connect(d.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect: %w", err) // not the URLs: they may hold credentials
	}
	return nc, nil
}

// dialer is the recipe of Run's connection. closed is closed by the closed
// callback.
func (s *Source) dialer(closed chan<- struct{}) dialer {
	return dialer{
		url:           s.url,
		name:          s.name,
		wait:          s.wait,
		connected:     s.connected,
		reconnected:   s.reconnected,
		disconnected:  s.disconnected,
		connectFailed: s.connectFailed,
		asyncError:    s.asyncError,
		closed:        func(*natsgo.Conn) { close(closed) },
	}
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

// kickRun asks Run to confirm the subscription (with a stream: to start
// its consumer if it has none yet), without blocking.
func (s *Source) kickRun() {
	select {
	case s.kick <- struct{}{}:
	default: // a confirmation is already pending
	}
}
