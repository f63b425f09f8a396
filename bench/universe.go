package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tickgate/tickgate/feed"
	feednats "github.com/tickgate/tickgate/feed/nats"
)

// addedSymbols is how many symbols the universe workload lists while the
// feed runs, and times.
const addedSymbols = 1000

// gatewayHistory is the gateway's default fanout.history: a symbol's ring
// is full after that many ticks.
const gatewayHistory = 1024

// UniverseResult is what -workload universe reports: one row per market
// size, each from a fresh server, with the same clients and feed rate.
type UniverseResult struct {
	Workload         string        `json:"workload"`
	Clients          int           `json:"clients"`
	SymbolsPerClient int           `json:"symbols_per_client"`
	Pick             string        `json:"pick"`
	FeedRate         float64       `json:"feed_rate"`
	DurationS        float64       `json:"duration_s"`
	WarmupS          float64       `json:"warmup_s"`
	FillS            float64       `json:"fill_s"`
	Rows             []UniverseRow `json:"rows"`
	Timestamp        string        `json:"timestamp"`
}

// UniverseRow is one market size's figures. RSSFull is read -fill after
// the window, when RingsFull of the symbols' rings would hold
// gatewayHistory ticks by the feed's Zipf shares.
type UniverseRow struct {
	Symbols       int     `json:"symbols"`
	StartupS      float64 `json:"startup_s"`       // the gateway with its own simulated market: start to ready
	StartupRSSMB  float64 `json:"startup_rss_mb"`  // and its RSS then
	LearnS        float64 `json:"learn_s"`         // on NATS: the listings of the market to the gateway listing them all
	ExpectedFan   float64 `json:"expected_fanout"` // subscribers a tick reaches, by the picks
	TicksPerSec   float64 `json:"ticks_per_sec"`   // the gateway's feed ticks in the window
	DeliveriesPS  float64 `json:"deliveries_per_sec"`
	CPUPerTickUS  float64 `json:"cpu_us_per_tick"`     // gateway CPU in the window ÷ its feed ticks
	CPUPerDelivUS float64 `json:"cpu_us_per_delivery"` // ÷ the deliveries the clients counted
	CPUPerSec     float64 `json:"cpu_per_sec"`
	P99MS         float64 `json:"latency_p99_ms"`
	Gaps          uint64  `json:"gaps"`
	RSSWarmMB     float64 `json:"rss_warm_mb"` // at the end of the window
	RSSFullMB     float64 `json:"rss_full_mb"` // -fill later
	FedS          float64 `json:"fed_s"`       // feed time at that read
	RingsFull     int     `json:"rings_full"`  // symbols whose ring would be full by then
	AddMS         float64 `json:"add_1000_ms"` // addedSymbols listings to the gateway listing them all
	AddCPUMS      float64 `json:"add_1000_cpu_ms"`
	OtherCPUS     float64 `json:"other_cpu_s"` // CPU of other processes in the window
}

// runUniverse runs the universe workload for each of -universe-sizes.
func runUniverse(ctx context.Context, o *options, bins *binCache, stderr io.Writer) (*UniverseResult, error) {
	res := &UniverseResult{
		Workload: o.workload, Clients: o.clients, SymbolsPerClient: o.symbols, Pick: o.pick, FeedRate: o.rate,
		DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(), FillS: o.fill.Seconds(),
		Timestamp: time.Now().UTC().Format(time.RFC3339),
	}
	for _, n := range o.universeSizes {
		fmt.Fprintf(stderr, "universe: %d symbols\n", n)
		row, err := universeRow(ctx, o, bins, n, stderr)
		if err != nil {
			return nil, fmt.Errorf("universe of %d: %w", n, err)
		}
		res.Rows = append(res.Rows, row)
	}
	return res, nil
}

// universeRow measures one market size: the startup of a gateway with its
// own simulated market, then a gateway fed the same market over NATS with
// the clients on it: the window, RSS after -fill, and the time to list
// addedSymbols more.
func universeRow(ctx context.Context, o *options, bins *binCache, n int, stderr io.Writer) (UniverseRow, error) {
	row := UniverseRow{Symbols: n}
	var err error
	if row.StartupS, row.StartupRSSMB, err = simStartup(ctx, o, bins, n, stderr); err != nil {
		return row, err
	}
	ro := *o
	ro.universe = n
	r := newRunner(&ro, stderr)
	defer r.mc.CloseIdleConnections()
	defer r.stopServer()
	if err := r.prepare(ctx, bins); err != nil {
		return row, err
	}
	row.LearnS, row.ExpectedFan = r.learned.Seconds(), r.fanout
	fedFrom := time.Now()
	defer r.closeClients()
	if err := r.connect(ctx); err != nil {
		return row, err
	}
	if err := sleepCtx(ctx, o.warmup); err != nil {
		return row, err
	}
	var w window
	if err := r.measure(ctx, &w); err != nil {
		return row, err
	}
	if err := sleepCtx(ctx, o.fill); err != nil {
		return row, err
	}
	full, _ := r.scrape(ctx)
	row.RSSFullMB, row.FedS = full.rss/1e6, time.Since(fedFrom).Seconds()
	row.RingsFull = ringsFull(n, o.rate*row.FedS)
	if row.AddMS, row.AddCPUMS, err = r.addSymbols(ctx, n); err != nil {
		return row, err
	}
	r.closeClients() // their counters are read once their readers are done
	row.addWindow(r.result(&w, nil), &w)
	return row, nil
}

// addWindow takes the measured window's figures.
func (row *UniverseRow) addWindow(res *Result, w *window) {
	row.DeliveriesPS, row.P99MS, row.Gaps = res.DeliveriesPerSec, res.LatencyP99Ms, res.Gaps
	row.RSSWarmMB = w.end.rss / 1e6
	cpu := w.end.cpu - w.start.cpu
	ticks := w.end.ticks - w.start.ticks
	row.TicksPerSec, row.CPUPerSec = ticks/w.elapsed.Seconds(), cpu/w.elapsed.Seconds()
	if ticks > 0 {
		row.CPUPerTickUS = cpu * 1e6 / ticks
	}
	if res.GatewayCPUUsPerDelivery != nil {
		row.CPUPerDelivUS = *res.GatewayCPUUsPerDelivery
	}
	if res.OtherCPUSeconds != nil {
		row.OtherCPUS = *res.OtherCPUSeconds
	}
}

// simStartup starts a gateway with a simulated market of n symbols of
// its own and returns how long it took to answer ready, and its RSS then.
func simStartup(ctx context.Context, o *options, bins *binCache, n int, stderr io.Writer) (secs, rssMB float64, err error) {
	bin, err := bins.path(ctx, o, stderr)
	if err != nil {
		return 0, 0, err
	}
	so := *o
	so.universe = n
	start := time.Now()
	c, err := startServer(ctx, &so, bin, o.rate, "", stderr)
	if err != nil {
		return 0, 0, err
	}
	defer c.stop()
	secs = time.Since(start).Seconds()
	var st serverStats
	st.addProc(c.cmd.Process.Pid)
	return secs, st.rss / 1e6, nil
}

// addSymbols lists addedSymbols new symbols into the running market, as a
// publisher of IPOs would, on a connection of its own, and returns how
// long until the gateway lists them all, and the gateway CPU it took.
func (r *runner) addSymbols(ctx context.Context, n int) (ms, cpuMS float64, err error) {
	nc, err := natsgo.Connect(r.feed.url(), natsgo.Name("tickgate-bench-listings"))
	if err != nil {
		return 0, 0, err
	}
	defer nc.Close()
	pub := feednats.NewPublisher(nc, "ticks")
	before, _ := r.scrape(ctx)
	start := time.Now()
	for i := range addedSymbols {
		pub.List(feed.Listing{Symbol: fmt.Sprintf("NEW%04d", i), PrevClose: 10})
	}
	if err := pub.Flush(10 * time.Second); err != nil {
		return 0, 0, err
	}
	for {
		st, err := r.scrape(ctx)
		if err != nil {
			return 0, 0, err
		}
		if st.universe >= float64(n+addedSymbols) {
			return float64(time.Since(start).Microseconds()) / 1e3, (st.cpu - before.cpu) * 1e3, nil
		}
		if time.Since(start) > readyTimeout {
			return 0, 0, fmt.Errorf("the gateway lists %v symbols %s after %d listings, want %d", st.universe, readyTimeout, addedSymbols, n+addedSymbols)
		}
		if err := sleepCtx(ctx, 5*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
}

// ringsFull is how many of n symbols would have gatewayHistory ticks after
// ticks feed ticks, by the feed's Zipf shares.
func ringsFull(n int, ticks float64) int {
	var norm float64
	for k := range n {
		norm += math.Pow(float64(1+k), -feedSkew)
	}
	full := 0
	for k := range n {
		if ticks*math.Pow(float64(1+k), -feedSkew)/norm >= gatewayHistory {
			full++
		}
	}
	return full
}

// printTable prints one line per market size.
func (res *UniverseResult) printTable(out io.Writer) {
	fmt.Fprintf(out, "universe: %d clients × %d %s-picked symbols, feed %.0f ticks/s, window %.0fs after %.0fs warm-up, RSS again %.0fs later\n",
		res.Clients, res.SymbolsPerClient, res.Pick, res.FeedRate, res.DurationS, res.WarmupS, res.FillS)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "symbols\tstartup s\tRSS at start MB\tlearn s\tfan-out\tticks/s\tdeliveries/s\tµs/tick\tµs/delivery\tCPU/s\tp99 ms\tgaps\tRSS warm MB\tRSS later MB\tfed s\trings full\tadd 1,000 ms\tadd CPU ms\tother CPU-s\t")
	for _, r := range res.Rows {
		fmt.Fprintf(tw, "%d\t%.2f\t%.1f\t%.2f\t%.1f\t%.0f\t%.0f\t%.2f\t%.3f\t%.3f\t%.1f\t%d\t%.1f\t%.1f\t%.0f\t%d\t%.0f\t%.0f\t%.1f\t\n",
			r.Symbols, r.StartupS, r.StartupRSSMB, r.LearnS, r.ExpectedFan, r.TicksPerSec, r.DeliveriesPS, r.CPUPerTickUS, r.CPUPerDelivUS,
			r.CPUPerSec, r.P99MS, r.Gaps, r.RSSWarmMB, r.RSSFullMB, r.FedS, r.RingsFull, r.AddMS, r.AddCPUMS, r.OtherCPUS)
	}
	tw.Flush()
}
