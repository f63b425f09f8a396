// Command floor is a benchmark reference, not a product: the least work a
// push gateway can do per frame on this machine, so the harness
// (go run ./bench -target floor) can show how far a real gateway is from it
// in the same run.
//
// After the WebSocket handshake (done by hand, ?symbols=A,B only) it never
// reads the socket. Each tick is framed once (header and tick JSON in one
// buffer) and written to every subscribed socket with exactly one write(2)
// on the raw descriptor, from the feed's own goroutine: no queue, no
// goroutine per client or frame, no batching, no timer, no metrics. A write
// that would block or comes up short drops that client (a real gateway
// would queue; the floor does not pay for one).
//
// Its feed is tickgate's simulated feed (feed/sim, same seed, skew and
// symbols) or, with -nats, the ticks the harness publishes on NATS. It
// serves /ws, /symbols and /readyz.
//
//	go run ./bench/floor -addr 127.0.0.1:8091 -rate 1000
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

	natsgo "github.com/nats-io/nats.go"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/feed/sim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "floor:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8091", "listen address")
	rate := fs.Float64("rate", 1000, "feed ticks per second of the built-in simulated feed")
	seed := fs.Uint64("seed", 1, "feed seed (tickgate's default is 1)")
	natsURL := fs.String("nats", "", "read ticks from this NATS server (subjects <prefix>.SYM) instead of the simulated feed")
	prefix := fs.String("prefix", "ticks", "NATS subject prefix")
	if err := fs.Parse(args); err != nil {
		return err
	}
	src, err := sim.New(sim.Config{Rate: *rate, Seed: *seed})
	if err != nil {
		return err
	}
	reg := newRegistry(feed.Symbols(src.Listings()))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("floor: listen: %w", err)
	}
	slog.Info("floor: benchmark reference, not a product", "addr", ln.Addr().String())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ready atomic.Bool
	if *natsURL != "" {
		nc, err := subscribeNATS(*natsURL, *prefix, reg)
		if err != nil {
			return err
		}
		defer nc.Close()
		ready.Store(true)
	} else {
		go func() {
			ready.Store(true)
			_ = src.Run(ctx, reg)
		}()
	}
	return serve(ctx, ln, reg, &ready)
}

// subscribeNATS delivers every message on prefix.> as a tick; its payload
// is already the tick's wire form.
func subscribeNATS(url, prefix string, reg *registry) (*natsgo.Conn, error) {
	nc, err := natsgo.Connect(url, natsgo.Name("tickgate-floor"))
	if err != nil {
		return nil, fmt.Errorf("floor: nats: %w", err)
	}
	skip := len(prefix) + 1
	_, err = nc.Subscribe(prefix+".>", func(m *natsgo.Msg) {
		if len(m.Subject) > skip {
			reg.deliver(m.Subject[skip:], m.Data)
		}
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("floor: nats subscribe: %w", err)
	}
	return nc, nil
}

func serve(ctx context.Context, ln net.Listener, reg *registry, ready *atomic.Bool) error {
	symbols, _ := json.Marshal(reg.symbols)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", reg.serveWS)
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
		srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
