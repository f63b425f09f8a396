package subscribe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testSymbols = []string{"AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM"}

// testEnv is a real engine and Server behind an httptest server on
// loopback. Ticks are published by the test, so every seq is known.
type testEnv struct {
	t      testing.TB
	engine *fanout.Engine
	srv    *Server
	reg    *prometheus.Registry
	url    string // ws://127.0.0.1:port/ws
	sse    string // http://127.0.0.1:port/sse

	mu        sync.Mutex
	seq       map[string]uint64
	published int // ticks put to the engine (put)
	books     int // books put to the engine (putBooks)
}

func newTestEnv(t testing.TB, cfg Config, fcfg fanout.Config, symbols ...string) *testEnv {
	t.Helper()
	return newTestEnvLog(t, cfg, fcfg, slog.New(slog.NewTextHandler(io.Discard, nil)), symbols...)
}

// newTestEnvLog is newTestEnv with the Server logging to log.
func newTestEnvLog(t testing.TB, cfg Config, fcfg fanout.Config, log *slog.Logger, symbols ...string) *testEnv {
	t.Helper()
	return newTestEnvOn(t, cfg, fcfg, log, smallSendBuf, symbols...)
}

// newTestEnvOn is newTestEnvLog whose connections are accepted through
// wrap (smallSendBuf, or one that leaves the kernel's sizes).
func newTestEnvOn(t testing.TB, cfg Config, fcfg fanout.Config, log *slog.Logger, wrap func(net.Listener) net.Listener, symbols ...string) *testEnv {
	t.Helper()
	if symbols == nil {
		symbols = testSymbols
	}
	reg := prometheus.NewRegistry()
	engine, err := fanout.New(fcfg, feed.Listed(symbols...), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(cfg, engine, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { engine.Run(ctx); close(done) }()
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	mux.HandleFunc("GET /sse", srv.ServeSSE)
	hs := httptest.NewUnstartedServer(mux)
	hs.Listener = srv.Listener(wrap(hs.Listener))
	hs.Start()
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer dcancel()
		if err := srv.Drain(dctx, 0); err != nil {
			t.Errorf("drain: %v", err)
		}
		hs.Close()
		cancel()
		<-done
	})
	return &testEnv{t: t, engine: engine, srv: srv, reg: reg, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", sse: hs.URL + "/sse", seq: map[string]uint64{}}
}

// publish sends the next n ticks of sym and waits until the engine has
// taken the last one.
func (e *testEnv) publish(sym string, n int) {
	e.t.Helper()
	e.mu.Lock()
	var last uint64
	for range n {
		e.seq[sym]++
		last = e.seq[sym]
		px := 100 + float64(last%100)/100
		e.put(feed.Tick{Symbol: sym, Seq: last, Price: px, Size: 100, Bid: px - 0.01, Ask: px + 0.01, TS: time.Now().UnixNano()})
	}
	e.mu.Unlock()
	e.taken()
}

// put publishes t. Every tick of the env goes through it, holding e.mu,
// so published counts them all for taken.
func (e *testEnv) put(t feed.Tick) {
	e.published++
	e.engine.Publish(t)
}

// taken waits until the engine has delivered every tick put so far: the
// shards add each batch to tickgate_feed_ticks_total once delivered.
func (e *testEnv) taken() {
	e.t.Helper()
	e.mu.Lock()
	want := float64(e.published)
	e.mu.Unlock()
	e.waitTaken("tickgate_feed_ticks_total", want)
}

// waitTaken waits until the counter name, which the shards add each
// batch to once delivered, reaches want.
func (e *testEnv) waitTaken(name string, want float64) {
	e.t.Helper()
	checkFor(e.t, 5*time.Second, func() error {
		if got := gathered(e.t, e.reg, name); got < want {
			return fmt.Errorf("engine has taken %v of %v (%s)", got, want, name)
		}
		return nil
	})
}

// checkFor retries f until it returns nil or timeout passes (poll.Until).
var checkFor = poll.Until

// msg is any server message, decoded loosely (wstest.Decode).
type msg = wstest.Msg

// dial connects a wstest client to e's endpoint with query, reading
// ahead so the server never waits on its socket while the test is busy.
func (e *testEnv) dial(query string) *wstest.Client {
	e.t.Helper()
	c := wstest.Dial(e.t, e.url+query)
	c.ReadAhead()
	return c
}

// dialSubscribed dials a client subscribed to syms (comma-separated) by
// query, past its subscribed reply: a bystander, most often.
func (e *testEnv) dialSubscribed(syms string) *wstest.Client {
	e.t.Helper()
	c := e.dial("?symbols=" + syms)
	expectReply(c, "subscribed", 0)
	return c
}

// closeStatus waits for c's connection to end, discarding messages still
// in flight, and returns its close code and the error it ended with.
func closeStatus(c *wstest.Client) (websocket.StatusCode, error) {
	c.TB.Helper()
	err := c.ReadUntilError(15 * time.Second)
	return websocket.CloseStatus(err), err
}

// dialErr is the error of dialling url: nil if the upgrade went through.
func dialErr(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := wstest.DialRaw(ctx, url, nil)
	if err == nil {
		conn.CloseNow()
	}
	return err
}

// smallRecvBuf dials with a 4 KiB socket receive buffer, so a client that
// stops reading backs up into the server's queue quickly.
func smallRecvBuf() *websocket.DialOptions {
	d := &net.Dialer{Control: nil}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	return &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}}
}

// smallSendBuf accepts connections with a 16 KiB send buffer.
func smallSendBuf(ln net.Listener) net.Listener { return smallSendBufListener{ln} }

// smallSendBufListener gives each accepted connection a 16 KiB send
// buffer, so a client that stops reading backs up into its queue within a
// few hundred ticks instead of the megabytes loopback autotuning allows.
type smallSendBufListener struct{ net.Listener }

func (l smallSendBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}
