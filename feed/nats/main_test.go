package nats

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/runtest"
)

// TestMain checks that no test leaves a goroutine behind. Tests wait for
// Run to return and for embedded servers to finish shutting down; goleak
// retries for a while, which covers the nats.go and nats-server goroutines
// that exit just after Close and WaitForShutdown return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// connect opens a plain client connection to url, closed when the test ends.
func connect(tb testing.TB, url string) *natsgo.Conn {
	tb.Helper()
	nc, err := natsgo.Connect(url)
	if err != nil {
		tb.Fatalf("connect %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	return nc
}

// subscribeSync subscribes a new connection to url to subject, and flushes
// so the server has the subscription before anything is published.
func subscribeSync(tb testing.TB, url, subject string) *natsgo.Subscription {
	tb.Helper()
	nc := connect(tb, url)
	sub, err := nc.SubscribeSync(subject)
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		tb.Fatalf("subscribe %s: %v", subject, err)
	}
	return sub
}

// collector is a feed.Sink that keeps every tick; the test reads it while
// Run writes, hence the lock.
type collector struct {
	mu    sync.Mutex
	ticks []feed.Tick
}

func (c *collector) Publish(t feed.Tick) {
	c.mu.Lock()
	c.ticks = append(c.ticks, t)
	c.mu.Unlock()
}

// got returns a copy of the ticks so far.
func (c *collector) got() []feed.Tick {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.ticks)
}

// waitTicks waits until c holds n ticks and returns them.
func (c *collector) waitTicks(tb testing.TB, n int) []feed.Tick {
	tb.Helper()
	var got []feed.Tick
	poll.Until(tb, 5*time.Second, func() error {
		if got = c.got(); len(got) < n {
			return fmt.Errorf("sink has %d ticks, want %d", len(got), n)
		}
		return nil
	})
	return got
}

// fixture is a Source under test with its registry and log.
type fixture struct {
	src *Source
	reg *prometheus.Registry
	log *logtest.Buffer
}

// newFixture builds a Source from cfg; ReconnectWait defaults to 20ms so
// reconnect tests stay quick.
func newFixture(tb testing.TB, cfg Config) *fixture {
	tb.Helper()
	if cfg.ReconnectWait == 0 {
		cfg.ReconnectWait = 20 * time.Millisecond
	}
	f := &fixture{reg: prometheus.NewRegistry(), log: &logtest.Buffer{}}
	src, err := New(cfg, f.reg, slog.New(slog.NewTextHandler(f.log, nil)))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	f.src = src
	return f
}

// run runs the Source into sink until the test ends, then stops it and
// checks that Run returned nil promptly.
func (f *fixture) run(tb testing.TB, sink feed.Sink) *runtest.Task {
	tb.Helper()
	return runtest.Start(tb, "Run", func(ctx context.Context) error { return f.src.Run(ctx, sink) })
}

// discard is a logger that drops everything.
func discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// waitReady waits until the Source is ready.
func (f *fixture) waitReady(tb testing.TB) {
	tb.Helper()
	poll.Until(tb, 10*time.Second, func() error {
		if !f.src.Ready() {
			return fmt.Errorf("source not ready")
		}
		return nil
	})
}
