// Command bench is tickgate's load harness: it opens thousands of WebSocket
// clients against a gateway on loopback, reads every tick cheaply (no
// encoding/json), and reports client-side throughput, latency, seq gaps and
// drops next to the server's own figures scraped from /metrics.
//
// Usage, from the repository root:
//
//	go run ./bench -h
//	go run ./bench -workload fanout -spawn -clients 2000 -duration 10s -rate 5000
//	go run ./bench -workload idle -spawn -out idle.json
//	go run ./bench -workload fanout -spawn -target baseline -out base.json
//	go run ./bench -workload fanout -spawn -find-max -clients 1000 -duration 10s
//	go run ./bench -compare base.json tickgate.json
//	go run ./bench -workload light -spawn -target floor -feed nats -pin
//	go run ./bench -workload light -spawn -target centrifugo -centrifugo ~/go/bin/centrifugo
//	go run ./bench -workload dashboard -spawn
//	go run ./bench -workload churn -spawn -duration 60s
//	go run ./bench -workload bars -spawn -duration 20s
//	go run ./bench -workload slowlink -spawn -duration 60s -warmup 5s   # as root: shaped links
//
// A run spawns the server itself with -spawn (building ./cmd/gateway, or
// ./bench/baseline or ./bench/floor with -target baseline or floor, once
// into a temporary directory; Centrifugo is never built, it comes from
// -centrifugo or PATH) or targets one already listening at -url. Clients connect at -ramp per
// second, spread round-robin over the -hosts loopback addresses (one
// source/destination pair runs out of ephemeral ports near 28,000), then
// -warmup passes uncounted and -duration is measured. -workload picks a
// named scenario (fanout, hot, idle, slow, light, sweep, dashboard, churn,
// bars, book, universe, slowlink, custom); explicit flags override its
// parameters. -stream picks what clients subscribe to: ticks, or bars
// (bars.1s, bars.1m), whose latency is receive time minus the bar's end
// (t + interval) and whose seqs are checked by the bar rule (span for n).
// Only loopback targets are accepted.
//
// The server figures (RSS, CPU, slow consumers, server-side latency) come
// from /metrics scraped before connecting, at the start and at the end of
// the measured window.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run parses args and performs one of: -compare, -find-max, or a single run.
// Every child process it starts is stopped before it returns.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if _, isFile := stderr.(*os.File); !isFile {
		stderr = &lockedWriter{w: stderr} // the child's output is copied in from another goroutine
	}
	opt, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if opt.compare {
		return compareFiles(stdout, opt.compareFiles[0], opt.compareFiles[1])
	}
	if err := checkFileLimit(opt); err != nil {
		return err
	}
	if opt.pin {
		if err := pinHarness(stderr); err != nil {
			return err
		}
	}
	if opt.cpuProfile != "" {
		stopProfile, err := startCPUProfile(opt.cpuProfile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	bins := newBinCache(opt.gatewayBin)
	defer bins.cleanup()
	var res interface{ printTable(io.Writer) }
	switch {
	case opt.workload == "churn":
		res, err = runChurn(ctx, opt, bins, stderr)
	case opt.workload == "slowlink":
		res, err = runSlowlink(ctx, opt, bins, stderr)
	case opt.workload == "universe":
		res, err = runUniverse(ctx, opt, bins, stderr)
	case opt.findMax:
		fm, err := findMax(ctx, opt, bins, stdout, stderr) // prints as it searches
		if err != nil {
			return err
		}
		return writeJSON(opt.out, fm)
	default:
		res, err = runOnce(ctx, opt, bins, stderr)
	}
	if err != nil {
		return err
	}
	res.printTable(stdout)
	return writeJSON(opt.out, res)
}

// startCPUProfile profiles the harness itself, to keep the clients cheaper
// than the server they measure.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// lockedWriter serializes writes from the harness and a child's output copier.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
