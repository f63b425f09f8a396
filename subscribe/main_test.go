package subscribe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
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
	t      *testing.T
	engine *fanout.Engine
	srv    *Server
	reg    *prometheus.Registry
	url    string // ws://127.0.0.1:port/ws

	mu        sync.Mutex
	seq       map[string]uint64
	published int // ticks put to the engine (put)
}

func newTestEnv(t *testing.T, cfg Config, fcfg fanout.Config, symbols ...string) *testEnv {
	t.Helper()
	return newTestEnvLog(t, cfg, fcfg, slog.New(slog.NewTextHandler(io.Discard, nil)), symbols...)
}

// newTestEnvLog is newTestEnv with the Server logging to log.
func newTestEnvLog(t *testing.T, cfg Config, fcfg fanout.Config, log *slog.Logger, symbols ...string) *testEnv {
	t.Helper()
	if symbols == nil {
		symbols = testSymbols
	}
	reg := prometheus.NewRegistry()
	engine, err := fanout.New(fcfg, symbols, reg)
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
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = smallSendBufListener{hs.Listener}
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
	return &testEnv{t: t, engine: engine, srv: srv, reg: reg, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/ws", seq: map[string]uint64{}}
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
	checkFor(e.t, 5*time.Second, func() error {
		if got := gathered(e.t, e.reg, "tickgate_feed_ticks_total"); got < want {
			return fmt.Errorf("engine has taken %v ticks of %v", got, want)
		}
		return nil
	})
}

// checkFor retries f until it returns nil or timeout passes (poll.Until).
var checkFor = poll.Until

// msg is any server message, decoded loosely (wstest.Decode).
type msg = wstest.Msg

// wsClient is a real WebSocket client whose reader splits each frame on
// '\n' and hands the messages over a channel.
type wsClient struct {
	t       testing.TB
	conn    *websocket.Conn
	msgs    chan msg
	welcome chan msg // cap 1: the welcome, if the connection began with one
	err     error    // read error, valid once msgs is closed
	frames  int

	// readDelay, if set before start, makes the reader pause after each
	// frame: a client on a slow link.
	readDelay atomic.Int64
}

func (e *testEnv) dial(query string) *wsClient {
	e.t.Helper()
	c, err := dialWS(e.url + query)
	if err != nil {
		e.t.Fatal(err)
	}
	c.t = e.t
	c.start()
	e.t.Cleanup(func() { c.conn.CloseNow() })
	return c
}

func dialWS(url string) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	return newWSClient(conn), nil
}

// newWSClient is a wsClient on conn, its reader not started.
func newWSClient(conn *websocket.Conn) *wsClient {
	return &wsClient{conn: conn, msgs: make(chan msg, 4096), welcome: make(chan msg, 1)}
}

// start runs the reader. The welcome, the first message of every
// connection, goes to c.welcome, not c.msgs, so tests read the replies
// and ticks they are about (TestWelcomeFirst checks it).
func (c *wsClient) start() {
	go func() {
		defer close(c.msgs)
		first := true
		for {
			_, b, err := c.conn.Read(context.Background())
			if err != nil {
				c.err = err
				return
			}
			c.frames++
			time.Sleep(time.Duration(c.readDelay.Load()))
			for line := range bytes.SplitSeq(b, []byte("\n")) {
				m, err := wstest.Decode(line)
				if err != nil {
					c.err = fmt.Errorf("bad server message: %w", err)
					return
				}
				if first && wstest.IsWelcome(m) {
					c.welcome <- m
					if len(b) == len(line) {
						c.frames-- // the welcome's frame held nothing else
					}
				} else {
					c.msgs <- m
				}
				first = false
			}
		}
	}()
}

func (c *wsClient) send(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

// next returns the next message, failing the test after 5 s.
func (c *wsClient) next() msg {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("connection ended: %v", c.err)
		}
		return m
	case <-time.After(5 * time.Second):
		c.t.Fatal("no message within 5s")
	}
	panic("unreachable")
}

// closeStatus waits for the connection to end and returns its close code,
// discarding messages still in flight.
func (c *wsClient) closeStatus() websocket.StatusCode {
	c.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case _, ok := <-c.msgs:
			if !ok {
				return websocket.CloseStatus(c.err)
			}
		case <-timeout:
			c.t.Fatal("connection not closed within 15s")
		}
	}
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
