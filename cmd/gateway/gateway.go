package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	jsclient "github.com/tickgate/tickgate/clients/js"
	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/subscribe"
)

//go:embed web
var webFS embed.FS

// gateway is one wired instance: feed → engine → WebSocket server.
type gateway struct {
	cfg     *Config
	log     *slog.Logger
	reg     *prometheus.Registry
	source  feed.Source
	engine  *fanout.Engine
	clients *subscribe.Server

	adminAddr string // server.admin_listen once listening
}

// newGateway builds every part from cfg and one Prometheus registry.
func newGateway(cfg *Config, log *slog.Logger) (*gateway, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	src, err := newSource(cfg, cfg.Feed.Source, reg, log)
	if err != nil {
		return nil, err
	}
	verifier, err := newVerifier(cfg)
	if err != nil {
		return nil, err
	}
	budget, budgetFrom := memoryBudget(cfg)
	log.Info("memory budget", "bytes", budget, "from", budgetFrom)
	fcfg := fanout.Config{
		Shards:       cfg.Fanout.Shards,
		QueueBytes:   int(cfg.Fanout.QueueBytes),
		ConflateAt:   int(cfg.Fanout.ConflateAt),
		InboxTicks:   cfg.Fanout.InboxTicks,
		RateClasses:  cfg.Fanout.RateClasses,
		RatePhases:   cfg.Fanout.RatePhases,
		History:      cfg.Fanout.History,
		BarGrace:     cfg.Bars.Grace,
		BarHistory:   cfg.Bars.History,
		BookDepth:    cfg.Book.Depth,
		StaleAfter:   cfg.Status.StaleAfter,
		MemoryBudget: budget,
		Logger:       log.With("subsystem", "fanout"),
		MaxSymbols:   cfg.Universe.MaxSymbols,
		RetireAfter:  cfg.Universe.RetireAfter,
	}
	if fcfg.StaleAfter == 0 {
		fcfg.StaleAfter = -1 // status.stale_after 0: no stale check
	}
	fcfg.Pattern, _ = cfg.symbolPattern() // checked by Validate
	if verifier != nil {                  // only a token can make a client delayed
		fcfg.Delay, fcfg.DelayMaxBytes = cfg.Entitlements.Delay, int(cfg.Entitlements.DelayMaxBytes)
	}
	engine, err := fanout.New(fcfg, src.Listings(), reg)
	if err != nil {
		return nil, err
	}
	proxies, _ := cfg.trustedProxies() // checked by Validate
	clients, err := subscribe.NewServer(subscribe.Config{
		MaxConnections:      cfg.Server.MaxConnections,
		MaxConnectionsPerIP: cfg.Server.MaxConnsPerIP,
		ClientIPHeader:      cfg.Server.ClientIPHeader,
		TrustedProxies:      proxies,
		OriginPatterns:      cfg.Server.OriginPatterns,
		MaxSymbols:          cfg.Client.MaxSymbols,
		ForbidWildcard:      !cfg.Client.AllowWildcard,
		ReadLimit:           int64(cfg.Client.ReadLimit),
		MsgRate:             cfg.Client.MsgRate,
		MsgBurst:            cfg.Client.MsgBurst,
		FloodBurst:          cfg.Client.FloodBurst,
		InboundBytes:        float64(cfg.Client.InboundBytes),
		InboundFrames:       cfg.Client.InboundFrames,
		InboundWindow:       cfg.Client.InboundWindow,
		MaxFrameBytes:       int(cfg.Client.MaxFrameBytes),
		WriteTimeout:        cfg.Client.WriteTimeout,
		MaxStaleness:        cfg.Client.MaxStaleness,
		PingInterval:        cfg.Client.PingInterval,
		PongTimeout:         cfg.Client.PongTimeout,

		Verifier:            verifier,
		FirstMessageTimeout: cfg.Auth.FirstMessageTimeout,
	}, engine, reg, log)
	if err != nil {
		return nil, err
	}
	if _, ok := src.(feed.Watcher); ok {
		clients.SetFeedUp(false) // until its first look says otherwise
		engine.SetFeedUp(false)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tickgate_ready",
		Help: "1 while the gateway is ready for clients (feed running, not draining).",
	}, func() float64 {
		if clients.Ready() {
			return 1
		}
		return 0
	}))
	return &gateway{cfg: cfg, log: log, reg: reg, source: src, engine: engine, clients: clients}, nil
}

// setFeedUp tells the clients (feed_down, feed_up) and the engine (no
// stale status while the feed is down) what feed.Follow saw.
func (g *gateway) setFeedUp(up bool) {
	g.clients.SetFeedUp(up)
	g.engine.SetFeedUp(up)
}

// handler routes the HTTP endpoints of the main port. /metrics and the
// profiler are here only without server.admin_listen.
func (g *gateway) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ws", g.clients)
	mux.HandleFunc("GET /sse", g.clients.ServeSSE)
	if g.cfg.Server.AdminListen == "" {
		g.routeAdmin(mux, g.cfg.Server.PProf)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !g.clients.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /symbols", g.clients.ServeSymbols)
	client := jsclient.Handler(g.cfg.Server.JSClientOrigins)
	mux.Handle("GET /tickgate.js", client)
	mux.Handle("GET /tickgate/", client)
	web, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /", http.FileServerFS(web))
	return mux
}

// routeAdmin adds /metrics and, with pprof, the profiler to mux.
func (g *gateway) routeAdmin(mux *http.ServeMux, pprofOn bool) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{Registry: g.reg}))
	if pprofOn {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
}

// serveAdmin serves /metrics and the profiler on server.admin_listen, if
// set, until the returned stop is called (after the drain, so Prometheus
// can scrape it).
func (g *gateway) serveAdmin() (stop func(), err error) {
	if g.cfg.Server.AdminListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", g.cfg.Server.AdminListen)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	g.adminAddr = ln.Addr().String()
	mux := http.NewServeMux()
	g.routeAdmin(mux, true)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}

// wait blocks until ctx is done, the feed fails or the HTTP server fails,
// and reports whether it took the HTTP server's error. A feed that ends
// cleanly (a replay without loop) is not a failure: the gateway keeps
// serving its clients the last ticks, but reports not ready, and clients
// were told feed_down (SetFeedRunning).
func (g *gateway) wait(ctx context.Context, feedErr, httpErr <-chan error) (httpDone bool, err error) {
	for {
		select {
		case <-ctx.Done():
			return false, nil
		case err := <-feedErr:
			if err != nil {
				return false, fmt.Errorf("feed: %w", err)
			}
			g.log.Warn("feed ended; serving last ticks, not ready")
			feedErr = nil
		case err := <-httpErr:
			return true, err
		}
	}
}

// serve runs the gateway on ln until ctx is done or the feed fails, then
// shuts down: readiness off, clients closed with 1001 over the drain window
// while /healthz, /readyz (503) and /metrics still answer and new
// WebSocket upgrades get 503, then the listener closed, feed and engine
// stopped, all within server.shutdown_timeout.
func (g *gateway) serve(ctx context.Context, ln net.Listener) error {
	stopAdmin, err := g.serveAdmin()
	if err != nil {
		return err
	}
	defer stopAdmin()
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	var wg sync.WaitGroup
	wg.Go(func() { g.engine.Run(runCtx) })
	if w, ok := g.source.(feed.Watcher); ok {
		wg.Go(func() { feed.Follow(runCtx, w, g.setFeedUp, g.log) })
	}
	feedErr := make(chan error, 1)
	wg.Go(func() {
		g.clients.SetFeedRunning(true)
		err := g.source.Run(runCtx, g.engine)
		g.engine.Sync() // clients hear that the feed ended after its last ticks
		g.clients.SetFeedRunning(false)
		feedErr <- err
	})
	srv := &http.Server{Handler: g.handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(g.clients.Listener(ln)) }()

	httpDone, err := g.wait(ctx, feedErr, httpErr)
	g.log.Info("shutting down", "connections", g.clients.Connections(), "drain_window", g.cfg.Server.DrainWindow)
	srv.SetKeepAlivesEnabled(false) // HTTP clients reconnect elsewhere after each answer
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownTimeout)
	defer cancel()
	// The listener stays open through the drain: probes and Prometheus see
	// it, and only /ws refuses (Drain makes it answer 503).
	if derr := g.clients.Drain(sctx, g.cfg.Server.DrainWindow); derr != nil {
		g.log.Warn("drain cut short; remaining clients closed without handshake", "err", derr)
	}
	if serr := srv.Shutdown(sctx); serr != nil {
		g.log.Warn("http shutdown", "err", serr)
	}
	stopRun()
	wg.Wait()
	if !httpDone {
		if e := <-httpErr; !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
		}
	}
	g.log.Info("stopped")
	return err
}
