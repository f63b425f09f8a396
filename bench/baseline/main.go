// Command baseline is a naive WebSocket tick hub: a benchmark reference, not
// a product. It is written the way most tutorials write a broadcast hub, so
// the load harness (go run ./bench -target baseline) can show what
// tickgate's design buys:
//
//   - one hub goroutine owns every client and loops over all of them for
//     every tick;
//   - it encodes the tick with encoding/json once per subscribed client;
//   - each client has a buffered channel of 256 messages; when it is full the
//     hub drops the client (close code 4001, as tickgate does);
//   - one writer goroutine per client writes one frame per message, no
//     batching.
//
// Its feed is tickgate's own simulated feed (feed/sim) with the same seed,
// skew and symbols, so both servers carry the same ticks. It serves /ws
// (?symbols=A,B and the subscribe op), /symbols, /metrics (Go and process
// collectors, tickgate_messages_sent_total, tickgate_slow_consumers_total)
// and /readyz.
//
//	go run ./bench/baseline -addr :8090 -rate 1000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	addr := fs.String("addr", ":8090", "listen address")
	rate := fs.Float64("rate", 1000, "feed ticks per second")
	seed := fs.Uint64("seed", 1, "feed seed (tickgate's default is 1)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, err := sim.New(sim.Config{Rate: *rate, Seed: *seed})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h := newHub(feed.Symbols(src.Listings()), reg)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	slog.Info("baseline hub: benchmark reference, not a product", "addr", ln.Addr().String(), "rate", *rate)
	return serve(ctx, ln, src, h, reg)
}

// serve runs the feed, the hub and the HTTP server until ctx is done.
func serve(ctx context.Context, ln net.Listener, src *sim.Source, h *hub, reg *prometheus.Registry) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ready atomic.Bool
	go h.run(ctx)
	go func() {
		ready.Store(true)
		_ = src.Run(ctx, h)
		ready.Store(false)
	}()
	symbols, _ := json.Marshal(feed.Symbols(src.Listings()))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", h.serveWS)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /symbols", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(symbols)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close() // tutorials stop here: open WebSockets just die with the process
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
