package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

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

	feedRunning atomic.Bool
	draining    atomic.Bool
}

// newGateway builds every part from cfg and one Prometheus registry.
func newGateway(cfg *Config, log *slog.Logger) (*gateway, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	src, err := newSource(&cfg.Feed, cfg.Feed.Source, reg, log)
	if err != nil {
		return nil, err
	}
	engine, err := fanout.New(fanout.Config{
		Shards:      cfg.Fanout.Shards,
		QueueBytes:  cfg.Fanout.QueueBytes,
		ConflateAt:  cfg.Fanout.ConflateAt,
		InboxTicks:  cfg.Fanout.InboxTicks,
		RateClasses: cfg.Fanout.RateClasses,
		History:     cfg.Fanout.History,
	}, src.Symbols(), reg)
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
		ReadLimit:           cfg.Client.ReadLimit,
		MsgRate:             cfg.Client.MsgRate,
		MsgBurst:            cfg.Client.MsgBurst,
		FloodBurst:          cfg.Client.FloodBurst,
		InboundBytes:        cfg.Client.InboundBytes,
		InboundFrames:       cfg.Client.InboundFrames,
		InboundWindow:       cfg.Client.InboundWindow,
		MaxFrameBytes:       cfg.Client.MaxFrameBytes,
		WriteTimeout:        cfg.Client.WriteTimeout,
		PingInterval:        cfg.Client.PingInterval,
		PongTimeout:         cfg.Client.PongTimeout,
	}, engine, reg, log)
	if err != nil {
		return nil, err
	}
	g := &gateway{cfg: cfg, log: log, reg: reg, source: src, engine: engine, clients: clients}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tickgate_ready",
		Help: "1 while the gateway is ready for clients (feed running, not draining).",
	}, func() float64 {
		if g.ready() {
			return 1
		}
		return 0
	}))
	return g, nil
}

// ready reports whether clients should be sent here: the feed runs, its
// upstream (if it has one) is connected, and the gateway is not draining.
func (g *gateway) ready() bool {
	if r, ok := g.source.(feed.Readier); ok && !r.Ready() {
		return false
	}
	return g.feedRunning.Load() && !g.draining.Load()
}

// handler routes the HTTP endpoints.
func (g *gateway) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /ws", g.clients)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{Registry: g.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !g.ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	symbols, _ := json.Marshal(g.engine.Symbols())
	mux.HandleFunc("GET /symbols", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(symbols)
	})
	if g.cfg.Server.PProf {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	web, _ := fs.Sub(webFS, "web")
	mux.Handle("GET /", http.FileServerFS(web))
	return mux
}

// wait blocks until ctx is done, the feed fails or the HTTP server fails,
// and reports whether it took the HTTP server's error. A feed that ends
// cleanly (a replay without loop) is not a failure: the gateway keeps
// serving its clients the last ticks, but reports not ready.
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
// shuts down: readiness off, listener closed, clients closed with 1001
// over the drain window, feed and engine stopped, all within
// server.shutdown_timeout.
func (g *gateway) serve(ctx context.Context, ln net.Listener) error {
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	var wg sync.WaitGroup
	wg.Go(func() { g.engine.Run(runCtx) })
	feedErr := make(chan error, 1)
	wg.Go(func() {
		g.feedRunning.Store(true)
		err := g.source.Run(runCtx, g.engine)
		g.feedRunning.Store(false)
		feedErr <- err
	})
	srv := &http.Server{Handler: g.handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()

	httpDone, err := g.wait(ctx, feedErr, httpErr)
	g.log.Info("shutting down", "connections", g.clients.Connections(), "drain_window", g.cfg.Server.DrainWindow)
	g.draining.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), g.cfg.Server.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil {
		g.log.Warn("http shutdown", "err", serr)
	}
	if derr := g.clients.Drain(sctx, g.cfg.Server.DrainWindow); derr != nil {
		g.log.Warn("drain cut short; remaining clients closed without handshake", "err", derr)
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
