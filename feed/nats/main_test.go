package nats

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/poll"
)

// TestMain checks that no test leaves a goroutine behind. Tests wait for
// Run to return and for embedded servers to finish shutting down; goleak
// retries for a while, which covers the nats.go and nats-server goroutines
// that exit just after Close and WaitForShutdown return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// checkFor retries f until it returns nil or timeout passes (poll.Until).
var checkFor = poll.Until

// serverOpts are the options of an embedded server on loopback: port is
// the client port, -1 for any free one.
func serverOpts(port int) *server.Options {
	return &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}
}

// runServer starts an embedded nats-server with opts and shuts it down
// when the test ends.
func runServer(tb testing.TB, opts *server.Options) *server.Server {
	tb.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		tb.Fatalf("nats-server: %v", err)
	}
	tb.Cleanup(func() { stopServer(s) })
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		tb.Fatal("nats-server not ready after 5s")
	}
	return s
}

// stopServer shuts s down and waits until it has. It may be called twice.
func stopServer(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// freePort returns a loopback port nobody listens on right now.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
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

// baseTS is the feed timestamp of seq 0; testTick seq n carries baseTS+n.
const baseTS = int64(1732470000000000000)

// testTick is a valid tick of sym whose fields all follow from seq.
func testTick(sym string, seq uint64) feed.Tick {
	px := 100 + float64(seq%100)/100
	return feed.Tick{Symbol: sym, Seq: seq, Price: px, Size: 100 * int64(seq%7+1), Bid: px - 0.01, Ask: px + 0.01, TS: baseTS + int64(seq)}
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
	checkFor(tb, 5*time.Second, func() error {
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
	log *syncBuffer
}

// newFixture builds a Source from cfg; ReconnectWait defaults to 20ms so
// reconnect tests stay quick.
func newFixture(tb testing.TB, cfg Config) *fixture {
	tb.Helper()
	if cfg.ReconnectWait == 0 {
		cfg.ReconnectWait = 20 * time.Millisecond
	}
	f := &fixture{reg: prometheus.NewRegistry(), log: &syncBuffer{}}
	src, err := New(cfg, f.reg, slog.New(slog.NewTextHandler(f.log, nil)))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	f.src = src
	return f
}

// run runs the Source into sink until the test ends, then stops it and
// checks that Run returned nil promptly. The returned channel receives Run's
// result; a test that reads it must not expect the cleanup to.
func (f *fixture) run(tb testing.TB, sink feed.Sink) <-chan error {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.src.Run(ctx, sink) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Error("Run did not return within 10s of cancel")
		}
	})
	return done
}

// discard is a logger that drops everything.
func discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// waitReady waits until the Source is ready.
func (f *fixture) waitReady(tb testing.TB) {
	tb.Helper()
	checkFor(tb, 10*time.Second, func() error {
		if !f.src.Ready() {
			return fmt.Errorf("source not ready")
		}
		return nil
	})
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
