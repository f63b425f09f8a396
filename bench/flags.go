package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Pick modes: how each client chooses its symbols from GET /symbols.
const (
	pickUniform = "uniform"
	pickZipf    = "zipf"
	pickFixed   = "fixed" // the first K symbols, the hottest
)

// options is the parsed command line after the workload's defaults.
type options struct {
	url          string
	hosts        []string
	metricsURL   string
	clients      int
	ramp         float64
	symbols      int
	pick         string
	duration     time.Duration
	warmup       time.Duration
	workload     string
	rate         float64 // feed ticks/s; 0 = the workload's default
	slowFraction float64
	spawn        bool
	target       string // tickgate, baseline, floor or centrifugo
	feed         string // sim (the server's own) or nats (the harness publishes)
	centrifugo   string // centrifugo binary; "" = look on PATH
	pin          bool
	maxRate      float64 // max_rate asked in each subscribe; 0 = every tick
	stream       string  // ticks, bars.1s or bars.1m
	serverProf   string  // fetch the server's CPU profile of the window into this file
	serverHeap   string  // fetch the server's heap profile at the window's end into this file
	churnRate    float64 // churn: new short-lived connections per second
	settle       time.Duration
	gatewayBin   string
	out          string
	seed         uint64
	findMax      bool
	refine       int
	compare      bool
	compareFiles []string
	cpuProfile   string
	// universe: the symbol counts -workload universe runs one after
	// another, and the client counts it runs each with; universe is the
	// one of the current run (0: the feed's default list), fill the phase
	// after the window before RSS is read again.
	universeSizes   []int
	universeClients []int
	universeMatched bool
	universe        int
	fill            time.Duration
	// memoryBudget is the spawned gateway's fanout.memory_budget; "" for
	// its default.
	memoryBudget string
	slowRates    []string // slowlink: the links' tbf rates
	slowLoss     float64  // slowlink: the share of packets each link drops, each way
}

// counts parses a flag's comma-separated whole numbers in [1, most] into
// dst, in place of its default; what names one in the error.
func counts(dst *[]int, most int, what string) func(string) error {
	return func(v string) error {
		*dst = nil
		for _, s := range splitList(v) {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > most {
				return fmt.Errorf("%q is not a %s", s, what)
			}
			*dst = append(*dst, n)
		}
		return nil
	}
}

// workload is one named scenario. rate 0 means "computed" (light);
// stream "" means ticks.
type workload struct {
	clients int
	symbols int
	pick    string
	rate    float64
	slow    float64
	maxRate float64
	stream  string
}

// Streams a client can subscribe to (docs/protocol.md).
const (
	streamTicks  = "ticks"
	streamBook   = "book"
	streamBars1s = "bars.1s"
	streamBars1m = "bars.1m"
)

var workloads = map[string]workload{
	"fanout": {clients: 10000, symbols: 10, pick: pickZipf, rate: 10000},
	"hot":    {clients: 10000, symbols: 5, pick: pickFixed, rate: 2000},
	"idle":   {clients: 15000, symbols: 1, pick: pickUniform, rate: 10},
	"slow":   {clients: 10000, symbols: 10, pick: pickZipf, rate: 10000, slow: 0.05},
	"light":  {clients: 10000, symbols: 10, pick: pickZipf, rate: 0},
	"custom": {clients: 10000, symbols: 10, pick: pickZipf, rate: 1000},
	// sweep: uniform picks, so every symbol has ~1,000 subscribers and
	// deliveries/s ≈ 1,000 × the feed rate; run with -find-max.
	"sweep": {clients: 10000, symbols: 10, pick: pickUniform, rate: 30},
	// dashboard (issue 7): the hot feed, the 20 hottest symbols, 4 updates/s each.
	"dashboard": {clients: 10000, symbols: 20, pick: pickFixed, rate: 2000, maxRate: 4},
	// churn (issue 12): these are the steady readers; -churn-rate more come and go.
	"churn": {clients: 200, symbols: 10, pick: pickZipf, rate: 200},
	// slowlink (issue 22): the gateway's default 1,000 ticks/s feed to "*"
	// clients behind shaped links (slowlink.go); clients and symbols are
	// its own.
	"slowlink": {clients: 1, symbols: 1, pick: pickFixed, rate: 1000},
	// bars (issue 9): the 10 hottest symbols of the gateway's default
	// 1,000 ticks/s feed, each trading several times a second, so every
	// client gets 10 final 1s bars a second, in a burst after each second.
	"bars": {clients: 10000, symbols: 10, pick: pickFixed, rate: 1000, stream: streamBars1s},
	// universe (issue 19): the same 100 clients on 10 Zipf-picked symbols
	// each and the same 5,000 ticks/s feed, over markets of -universe-sizes
	// symbols in turn (bench/universe.go).
	"universe": {clients: 100, symbols: 10, pick: pickZipf, rate: 5000},
	// book (issue 20): the dashboard's clients on the book stream instead:
	// the 20 hottest symbols' books (book.depth 10), 4 updates/s each.
	"book": {clients: 10000, symbols: 20, pick: pickFixed, rate: 2000, maxRate: 4, stream: streamBook},
}

// workloadNames is the -workload help and error text.
const workloadNames = "fanout, hot, idle, slow, light, sweep, dashboard, churn, bars, book, universe, slowlink or custom"

// targets maps each -target to its wire protocol.
var targets = map[string]string{
	"tickgate": protoTickgate, "baseline": protoTickgate, "floor": protoTickgate, "centrifugo": protoCentrifugo,
}

// lightDeliveries is the deliveries/s the light workload aims for.
const lightDeliveries = 100_000

func newFlagSet(o *options, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "ws://127.0.0.1:8080/ws", "target WebSocket URL (loopback only); with -spawn only its path is used")
	hosts := fs.String("hosts", "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4", "loopback IPs the connections are spread over round-robin (ephemeral ports run out near 28,000 per pair)")
	fs.StringVar(&o.metricsURL, "metrics-url", "", "Prometheus endpoint to scrape (default: http://<url host>/metrics)")
	fs.IntVar(&o.clients, "clients", 10000, "WebSocket clients")
	fs.Float64Var(&o.ramp, "ramp", 2000, "new connections per second")
	fs.IntVar(&o.symbols, "symbols", 10, "symbols per client")
	fs.StringVar(&o.pick, "pick", pickZipf, "how clients pick symbols: uniform, zipf (s=1.1 over /symbols order) or fixed (the first K)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "measured reading phase after ramp-up and warm-up")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "time after ramp-up whose deliveries are discarded")
	fs.StringVar(&o.workload, "workload", "fanout", "scenario: "+workloadNames+"; explicit flags override its parameters")
	fs.Float64Var(&o.rate, "rate", 0, "feed ticks/s of the spawned server (0 = the workload's default); with -find-max the starting rate")
	fs.Float64Var(&o.slowFraction, "slow-fraction", 0, "fraction of clients that subscribe and never read")
	fs.BoolVar(&o.spawn, "spawn", false, "start the server as a child process on a free port and stop it at the end")
	fs.StringVar(&o.target, "target", "tickgate", "server: tickgate (./cmd/gateway), baseline (./bench/baseline), floor (./bench/floor) or centrifugo (its binary; needs -spawn)")
	fs.StringVar(&o.feed, "feed", "sim", "sim: the spawned server runs its own simulated feed; nats: the harness runs the same seeded feed into an embedded nats-server the server reads (tickgate, floor). centrifugo is always fed by the harness, over its HTTP API")
	fs.StringVar(&o.centrifugo, "centrifugo", "", "centrifugo binary for -target centrifugo (default: centrifugo on PATH)")
	fs.BoolVar(&o.pin, "pin", false, "run the spawned server and the harness on disjoint CPU sets (server: the first half of the CPUs, harness: the rest)")
	fs.Float64Var(&o.maxRate, "max-rate", 0, "max_rate asked in each client's subscribe op (0 = every tick, subscribe by ?symbols=)")
	fs.StringVar(&o.stream, "stream", streamTicks, "stream each client subscribes to: ticks, bars.1s, bars.1m or book (by a subscribe op; tickgate only)")
	fs.StringVar(&o.serverProf, "server-profile", "", "fetch the spawned server's CPU profile of the measured window (/debug/pprof) into this file (tickgate, baseline)")
	fs.StringVar(&o.serverHeap, "server-heap", "", "fetch the spawned server's heap profile (/debug/pprof/heap, by allocation site) at the end of the measured window into this file (tickgate, baseline)")
	fs.Float64Var(&o.churnRate, "churn-rate", 100, "churn: short-lived connections opened per second")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "churn: time after the churn stops before the last server figures are taken")
	fs.StringVar(&o.gatewayBin, "gateway-bin", "", "server binary to -spawn instead of building it")
	fs.StringVar(&o.out, "out", "", "write the result as JSON to this file")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the clients' symbol picks")
	fs.BoolVar(&o.findMax, "find-max", false, "step the feed rate up (fresh server per step) to the highest rate with no gaps, no drops and p99 <= 50 ms; needs -spawn")
	fs.IntVar(&o.refine, "refine", 3, "-find-max: bisections between the last passing and the first failing rate")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the harness's own CPU profile to this file")
	o.universeSizes = []int{100, 1000, 10000, 50000}
	fs.Func("universe-sizes", "universe: the symbol counts to run, one fresh server each (default 100,1000,10000,50000)", counts(&o.universeSizes, 1_000_000, "symbol count in [1, 1000000]"))
	fs.DurationVar(&o.fill, "fill", 60*time.Second, "universe: feed time after the measured window before RSS is read again, as histories fill")
	o.universeClients = []int{100, 200}
	fs.Func("universe-clients", "universe: the client counts each size runs with, one fresh server each; the first also reads RSS after -fill and times listings (default 100,200)", counts(&o.universeClients, math.MaxInt, "client count"))
	fs.BoolVar(&o.universeMatched, "universe-matched", true, "universe: after each size but the first, one more row with the first client count on as many Zipf-picked symbols each (at most 500, the gateway's client.max_symbols) as bring the expected fan-out nearest the first size's, within 2%: the same deliveries a tick, to compare CPU per delivery at equal work")
	fs.StringVar(&o.memoryBudget, "memory-budget", "", "the spawned gateway's fanout.memory_budget, a size such as 64MiB (\"\": its default)")
	o.slowRates = []string{"1mbit", "500kbit"}
	fs.Func("slowlink-rates", "slowlink: the tbf rates of the links, comma-separated (a * client and a max_rate 4 one behind each; default 1mbit,500kbit)", func(v string) error {
		o.slowRates = splitList(v)
		return nil
	})
	fs.Float64Var(&o.slowLoss, "slowlink-loss", 0, "slowlink: the share of packets each link drops, each way (iptables statistic), in [0, 1)")
	fs.BoolVar(&o.compare, "compare", false, "compare two result files: -compare a.json b.json prints b/a of every numeric field")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench [flags]   |   go run ./bench -compare a.json b.json")
		fs.PrintDefaults()
	}
	return fs, hosts
}

// parseOptions parses args, applies the workload and checks the result.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs, hosts := newFlagSet(o, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.compare {
		if fs.NArg() != 2 {
			return nil, errors.New("-compare needs two files: -compare a.json b.json")
		}
		o.compareFiles = fs.Args()
		return o, nil
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.hosts = splitList(*hosts)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := o.applyWorkload(set); err != nil {
		return nil, err
	}
	if o.workload == "slow" && !set["rate"] {
		fmt.Fprintf(stderr, "slow: no -rate given, using %g ticks/s; pass half the fanout workload's -find-max rate\n", o.rate)
	}
	return o, o.validate()
}

// applyWorkload fills the parameters the user did not set from the
// workload table.
func (o *options) applyWorkload(set map[string]bool) error {
	w, ok := workloads[o.workload]
	if !ok {
		return fmt.Errorf("-workload %q: want %s", o.workload, workloadNames)
	}
	if o.workload == "custom" {
		w = workload{clients: o.clients, symbols: o.symbols, pick: o.pick, rate: 1000, slow: o.slowFraction, stream: o.stream}
	}
	if !set["stream"] {
		o.stream = cmp.Or(w.stream, streamTicks)
	}
	if !set["clients"] {
		o.clients = w.clients
	}
	if !set["symbols"] {
		o.symbols = w.symbols
	}
	if !set["pick"] {
		o.pick = w.pick
	}
	if !set["slow-fraction"] {
		o.slowFraction = w.slow
	}
	if !set["rate"] {
		o.rate = w.rate // 0 for light: computed from the picks
	}
	if !set["max-rate"] {
		o.maxRate = w.maxRate
	}
	return nil
}

func (o *options) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(o.clients > 0, "-clients must be > 0, got %d", o.clients)
	check(o.refine >= 0 && o.refine <= 10, "-refine must be in [0, 10], got %d", o.refine)
	check(o.ramp > 0, "-ramp must be > 0, got %g", o.ramp)
	check(o.symbols > 0, "-symbols must be > 0, got %d", o.symbols)
	check(o.pick == pickUniform || o.pick == pickZipf || o.pick == pickFixed, "-pick %q: want uniform, zipf or fixed", o.pick)
	check(o.duration > 0, "-duration must be > 0")
	check(o.warmup >= 0, "-warmup must be >= 0")
	check(o.rate >= 0 && o.rate <= 1e7, "-rate must be in [0, 10000000], got %g", o.rate)
	check(o.slowFraction >= 0 && o.slowFraction < 1, "-slow-fraction must be in [0, 1), got %g", o.slowFraction)
	check(targets[o.target] != "", "-target %q: want tickgate, baseline, floor or centrifugo", o.target)
	check(o.feed == "sim" || o.feed == "nats", "-feed %q: want sim or nats", o.feed)
	check(o.feed == "sim" || o.target == "tickgate" || o.target == "floor", "-feed nats: only tickgate and floor read NATS; the baseline runs its own feed")
	check(o.target != "centrifugo" || o.spawn, "-target centrifugo needs -spawn: the harness configures it and feeds it")
	check(!o.pin || o.spawn, "-pin needs -spawn")
	check(o.maxRate >= 0, "-max-rate must be >= 0, got %g", o.maxRate)
	check(o.stream == streamTicks || o.stream == streamBars1s || o.stream == streamBars1m || o.stream == streamBook, "-stream %q: want ticks, bars.1s, bars.1m or book", o.stream)
	check(o.stream == streamTicks || (o.target == "tickgate" && !o.findMax && o.workload != "churn"), "-stream %s: tickgate only (the others have no bars or books), not with -find-max (the bar and book rates do not follow the feed rate) or churn", o.stream)
	check(o.churnRate > 0, "-churn-rate must be > 0, got %g", o.churnRate)
	check(o.settle >= 0, "-settle must be >= 0")
	check(o.workload != "churn" || (!o.findMax && o.target != "centrifugo" && o.maxRate == 0), "-workload churn: not with -find-max, -max-rate or -target centrifugo")
	check(!o.findMax || o.spawn, "-find-max needs -spawn: each step starts a fresh server")
	check(o.workload != "universe" || (o.spawn && o.feed == "nats" && o.target == "tickgate" && !o.findMax && o.stream == streamTicks && o.maxRate == 0),
		"-workload universe needs -spawn -feed nats, tickgate, ticks: the harness lists the market into NATS and adds to it while running")
	check(o.workload != "universe" || len(o.universeSizes) > 0, "-universe-sizes: name at least one symbol count")
	check(o.workload != "universe" || len(o.universeClients) > 0, "-universe-clients: name at least one client count")
	check(o.memoryBudget == "" || o.target == "tickgate", "-memory-budget: tickgate only")
	check(o.fill >= 0, "-fill must be >= 0")
	check(o.workload != "slowlink" || (o.spawn && o.target == "tickgate" && o.feed == "sim" && !o.findMax && len(o.slowRates) > 0),
		"-workload slowlink: needs -spawn, -target tickgate, -feed sim, no -find-max, and -slowlink-rates")
	check(o.slowLoss >= 0 && o.slowLoss < 1, "-slowlink-loss must be in [0, 1), got %g", o.slowLoss)
	check(len(o.hosts) > 0, "-hosts must name at least one address")
	for _, h := range o.hosts {
		check(isLoopback(h), "-hosts: %q is not a loopback IP; the harness only targets 127.0.0.x", h)
	}
	if u, err := url.Parse(o.url); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") {
		errs = append(errs, fmt.Errorf("-url %q: want ws://host:port/path", o.url))
	} else {
		check(isLoopback(u.Hostname()), "-url: host %q is not loopback; the harness only targets 127.0.0.x", u.Hostname())
	}
	return errors.Join(errs...)
}

// isLoopback reports whether host is "localhost" or a loopback IP.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
