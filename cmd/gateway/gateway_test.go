package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// testBase is the configuration every test gateway starts from: fast
// timings so shutdown tests take a fraction of a second, and a simulator
// without its synthetic past, so a run's ticks start at its start (the
// backfill's tests ask for one).
var testBase = map[string]string{
	"server.drain_window":     "200ms",
	"server.shutdown_timeout": "5s",
	"feed.sim.rate":           "2000",
	"feed.sim.backfill":       "0s",
}

// transport never keeps idle connections, so no persistConn goroutine
// outlives a request and goleak stays quiet. WebSocket upgrades still work:
// net/http sends no "Connection: close" on protocol-switch requests.
var transport = &http.Transport{DisableKeepAlives: true}

var httpClient = &http.Client{Transport: transport, Timeout: 10 * time.Second}

// testGateway is one gateway serving on a loopback port.
type testGateway struct {
	gw   *gateway
	url  string // http://127.0.0.1:port
	ws   string // ws://127.0.0.1:port/ws
	stop context.CancelFunc
	done chan struct{} // closed when serve returns
	err  error         // serve's result, set before done closes
}

// testConfig loads testBase with overrides (dotted keys, raw YAML values)
// through loadConfig, as the gateway would read a --config file.
func testConfig(t testing.TB, overrides map[string]string) *Config {
	t.Helper()
	kv := make(map[string]string, len(testBase)+len(overrides))
	for k, v := range testBase {
		kv[k] = v
	}
	for k, v := range overrides {
		kv[k] = v
	}
	cfg, unknown, err := loadConfig(writeConfig(t, yamlOf(kv)))
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if len(unknown) > 0 {
		t.Fatalf("unknown config keys %q", unknown)
	}
	return cfg
}

// startGateway runs a gateway built by loadConfig from testBase with
// overrides (dotted keys, raw YAML values) on 127.0.0.1:0. It is stopped
// when the test ends.
func startGateway(t *testing.T, overrides map[string]string) *testGateway {
	t.Helper()
	return startGatewayLog(t, overrides, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// startGatewayLog is startGateway logging to log.
func startGatewayLog(t *testing.T, overrides map[string]string, log *slog.Logger) *testGateway {
	t.Helper()
	cfg := testConfig(t, overrides)
	gw, err := newGateway(cfg, log)
	if err != nil {
		t.Fatalf("newGateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tg := &testGateway{
		gw:   gw,
		url:  "http://" + ln.Addr().String(),
		ws:   "ws://" + ln.Addr().String() + "/ws",
		stop: cancel,
		done: make(chan struct{}),
	}
	go func() {
		tg.err = gw.serve(ctx, ln)
		close(tg.done)
	}()
	t.Cleanup(func() {
		if err := tg.shutdown(); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return tg
}

// wait returns serve's result once it has returned, allowing it
// shutdown_timeout and a second more.
func (tg *testGateway) wait() error {
	limit := tg.gw.cfg.Server.ShutdownTimeout + time.Second
	select {
	case <-tg.done:
		return tg.err
	case <-time.After(limit):
		return fmt.Errorf("serve still running %s after it was stopped", limit)
	}
}

// shutdown cancels serve's context, as SIGTERM does, and waits for serve.
func (tg *testGateway) shutdown() error {
	tg.stop()
	return tg.wait()
}

// waitReady polls /readyz until it answers 200.
func (tg *testGateway) waitReady(t *testing.T) {
	t.Helper()
	poll.Until(t, 5*time.Second, func() error {
		code, _ := get(tg.url + "/readyz")
		if code != http.StatusOK {
			return fmt.Errorf("/readyz = %d", code)
		}
		return nil
	})
}

// getSymbols fetches /symbols, checking its status and content type.
func getSymbols(t *testing.T, tg *testGateway) []string {
	t.Helper()
	resp, err := httpClient.Get(tg.url + "/symbols")
	if err != nil {
		t.Fatal(err)
	}
	var symbols []string
	err = json.NewDecoder(resp.Body).Decode(&symbols)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/symbols = %d, decode: %v", resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/symbols Content-Type %q", ct)
	}
	return symbols
}

// get fetches url and returns the status code and body, or 0 and the
// error's text if the request failed.
func get(url string) (int, string) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

func TestHTTPEndpoints(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	tg.waitReady(t)

	if code, body := get(tg.url + "/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q, want 200 ok", code, body)
	}
	symbols := getSymbols(t, tg)
	if len(symbols) != 100 || !slices.Contains(symbols, "AAPL") || !slices.Contains(symbols, "MSFT") {
		t.Errorf("/symbols = %d symbols %q, want the 100 built-in ones with AAPL and MSFT", len(symbols), symbols)
	}
	if code, body := get(tg.url + "/"); code != http.StatusOK || !strings.Contains(body, "tickgate") || !strings.Contains(body, "<html") {
		t.Errorf("/ = %d, %d bytes; want 200 and the page", code, len(body))
	}
	if code, body := get(tg.url + "/metrics"); code != http.StatusOK || !strings.Contains(body, "tickgate_ready 1") || !strings.Contains(body, "tickgate_feed_ticks_total") {
		t.Errorf("/metrics = %d, want 200 with tickgate_ series:\n%.500s", code, body)
	}
	if code, _ := get(tg.url + "/no/such/path"); code != http.StatusNotFound {
		t.Errorf("/no/such/path = %d, want 404", code)
	}
	resp, err := httpClient.Post(tg.url+"/healthz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestShutdownDrainsClients(t *testing.T) {
	t.Parallel()
	const clients = 3
	window := 3 * time.Second // long enough for checkDraining to run inside it
	tg := startGateway(t, map[string]string{"server.drain_window": window.String()})
	tg.waitReady(t)

	type result struct {
		err error
		at  time.Time
	}
	results := make(chan result, clients)
	for range clients {
		c := connect(t, tg, "?symbols=AAPL")
		if m := c.Next(); m.Type != "subscribed" {
			t.Fatalf("first message %s, want subscribed", m.Raw)
		}
		go func() {
			err := c.ReadUntilError(15 * time.Second)
			results <- result{err, time.Now()}
		}()
	}
	if n := tg.gw.clients.Connections(); n != clients {
		t.Fatalf("Connections() = %d, want %d", n, clients)
	}

	start := time.Now()
	tg.stop()
	var last time.Time
	for i := range clients {
		r := <-results
		if websocket.CloseStatus(r.err) != websocket.StatusGoingAway {
			t.Errorf("client closed with %v, want status 1001 (going away)", r.err)
		}
		if i == 0 {
			// Readiness went off before the first client was told to go,
			// and the rest of the drain is still to come.
			checkDraining(t, tg)
		}
		last = r.at
	}
	// Closes are spread over the window less the tenth kept for the last
	// handshakes: the last comes (n-1)/n of that in.
	if spread, want := last.Sub(start), window*9/10*(clients-1)/clients; spread < want {
		t.Errorf("last client closed %s after the signal, want at least %s", spread, want)
	}
	if err := tg.wait(); err != nil {
		t.Errorf("serve = %v, want nil after a clean drain", err)
	}
	if d := time.Since(start); d > tg.gw.cfg.Server.ShutdownTimeout {
		t.Errorf("shutdown took %s, past server.shutdown_timeout %s", d, tg.gw.cfg.Server.ShutdownTimeout)
	}
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_disconnects_total", "reason", "shutdown"); v != clients {
		t.Errorf("tickgate_disconnects_total{reason=shutdown} = %g, want %d", v, clients)
	}
}

func TestShutdownWithoutClients(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	tg.waitReady(t)
	if err := tg.shutdown(); err != nil {
		t.Errorf("serve = %v, want nil", err)
	}
	if tg.gw.clients.Ready() {
		t.Error("ready after serve returned")
	}
}

// TestServeListenerFails checks serve returns, with the error, when the
// HTTP server stops on its own rather than by ctx.
func TestServeListenerFails(t *testing.T) {
	t.Parallel()
	cfg, _, err := loadConfig(writeConfig(t, yamlOf(testBase)))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := newGateway(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln := &failingListener{err: errors.New("listener broke")}
	done := make(chan error, 1)
	go func() { done <- gw.serve(context.Background(), ln) }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "listener broke") {
			t.Errorf("serve = %v, want the listener's error", err)
		}
	case <-time.After(cfg.Server.ShutdownTimeout + time.Second):
		t.Fatal("serve did not return after its HTTP server failed")
	}
}

// failingListener's Accept always fails with a permanent error.
type failingListener struct{ err error }

func (l *failingListener) Accept() (net.Conn, error) { return nil, l.err }
func (l *failingListener) Close() error              { return nil }
func (l *failingListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestAdminListen moves /metrics and the profiler to server.admin_listen,
// so the public port serves neither.
func TestAdminListen(t *testing.T) {
	t.Parallel()
	admin := fmt.Sprintf("127.0.0.1:%d", natstest.FreePort(t))
	tg := startGateway(t, map[string]string{"server.admin_listen": admin})
	get := func(url string) (int, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	poll.Every(t, 5*time.Second, 10*time.Millisecond, func() error {
		for _, path := range []string{"/metrics", "/debug/pprof/"} {
			if code, err := get("http://" + admin + path); err != nil || code != 200 {
				return fmt.Errorf("admin %s: %d %v", path, code, err)
			}
		}
		return nil
	})
	for _, path := range []string{"/metrics", "/debug/pprof/"} {
		if code, err := get(tg.url + path); err != nil || code == 200 {
			t.Fatalf("public port %s: %d %v; want it not served", path, code, err)
		}
	}
}
