package main

import (
	"context"
	"fmt"
	"io"
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
// size and client count, each from a fresh server, with the same feed rate.
type UniverseResult struct {
	Workload         string        `json:"workload"`
	Clients          []int         `json:"clients"`
	SymbolsPerClient int           `json:"symbols_per_client"`
	Pick             string        `json:"pick"`
	FeedRate         float64       `json:"feed_rate"`
	MemoryBudget     string        `json:"memory_budget"` // as given to the gateway; "" for its default
	DurationS        float64       `json:"duration_s"`
	WarmupS          float64       `json:"warmup_s"`
	FillS            float64       `json:"fill_s"`
	Rows             []UniverseRow `json:"rows"`
	Timestamp        string        `json:"timestamp"`
}

// UniverseRow is one market size's figures. RSSFull is read -fill after
// the window, when RingsFull of the symbols' rings would hold
// gatewayHistory ticks by the feed's Zipf shares. A Matched row has the
// first client count on PerClient symbols each, chosen so a tick reaches
// as many subscribers as on the first size (matchSymbols): the same work
// on a bigger market. DelivVsFirst and FrameVsFirst are its CPU per
// delivery and per frame over those of the first size's row with as many
// clients, in the same run.
type UniverseRow struct {
	Symbols       int     `json:"symbols"`
	Clients       int     `json:"clients"`
	PerClient     int     `json:"symbols_per_client"`
	Matched       bool    `json:"matched"`
	StartupS      float64 `json:"startup_s"`       // the gateway with its own simulated market: start to ready
	StartupRSSMB  float64 `json:"startup_rss_mb"`  // and its RSS then
	LearnS        float64 `json:"learn_s"`         // on NATS: the listings of the market to the gateway listing them all
	ExpectedFan   float64 `json:"expected_fanout"` // subscribers a tick reaches, by the picks
	TicksPerSec   float64 `json:"ticks_per_sec"`   // the gateway's feed ticks in the window
	DeliveriesPS  float64 `json:"deliveries_per_sec"`
	FramesPS      float64 `json:"frames_per_sec"`      // frames the clients read: the writes the gateway made
	CPUPerTickUS  float64 `json:"cpu_us_per_tick"`     // gateway CPU in the window ÷ its feed ticks
	CPUPerDelivUS float64 `json:"cpu_us_per_delivery"` // ÷ the deliveries the clients counted
	CPUPerFrameUS float64 `json:"cpu_us_per_frame"`    // ÷ the frames they read
	DelivVsFirst  float64 `json:"cpu_per_delivery_vs_first"`
	FrameVsFirst  float64 `json:"cpu_per_frame_vs_first"`
	CPUPerSec     float64 `json:"cpu_per_sec"`
	P99MS         float64 `json:"latency_p99_ms"`
	Gaps          uint64  `json:"gaps"`
	RSSWarmMB     float64 `json:"rss_warm_mb"` // at the end of the window
	RSSFullMB     float64 `json:"rss_full_mb"` // -fill later
	KeptMB        float64 `json:"kept_mb"`     // then: bytes kept under the memory budget
	BudgetMB      float64 `json:"budget_mb"`   // the gateway's fanout.memory_budget
	FedS          float64 `json:"fed_s"`       // feed time at that read
	RingsFull     int     `json:"rings_full"`  // symbols whose ring would be full by then
	AddMS         float64 `json:"add_1000_ms"` // addedSymbols listings to the gateway listing them all
	AddCPUMS      float64 `json:"add_1000_cpu_ms"`
	OtherCPUS     float64 `json:"other_cpu_s"` // CPU of other processes in the window
}

// universeRun is one row to measure: symbols in the market, clients on
// perClient picks each; full also times startup, reads RSS after -fill
// and times listings; matched marks a fan-out matched row.
type universeRun struct {
	symbols, clients, perClient int
	full, matched               bool
}

// runUniverse runs the universe workload for each of -universe-sizes and
// -universe-clients, and the matched rows, then compares each row with
// the first size's.
func runUniverse(ctx context.Context, o *options, bins *binCache, stderr io.Writer) (*UniverseResult, error) {
	runs, err := planUniverse(o)
	if err != nil {
		return nil, err
	}
	res := &UniverseResult{
		Workload: o.workload, Clients: o.universeClients, SymbolsPerClient: o.symbols, Pick: o.pick, FeedRate: o.rate,
		MemoryBudget: o.memoryBudget, DurationS: o.duration.Seconds(), WarmupS: o.warmup.Seconds(), FillS: o.fill.Seconds(),
		Timestamp: time.Now().UTC().Format(time.RFC3339),
	}
	for _, run := range runs {
		fmt.Fprintf(stderr, "universe: %d symbols, %d clients × %d symbols\n", run.symbols, run.clients, run.perClient)
		row, err := universeRow(ctx, o, bins, run, stderr)
		if err != nil {
			return nil, fmt.Errorf("universe of %d, %d clients × %d symbols: %w", run.symbols, run.clients, run.perClient, err)
		}
		res.Rows = append(res.Rows, row)
	}
	res.compareFirst()
	return res, nil
}

// planUniverse lists the rows to measure: each size with each client
// count on -symbols picks, and with -universe-matched, after each size
// but the first, the first client count on as many picks each as give
// the first size's expected fan-out. The picks are planned here, before
// any server starts, so a fan-out that cannot be matched fails at once.
func planUniverse(o *options) ([]universeRun, error) {
	var runs []universeRun
	var target float64
	first := o.universeClients[0]
	for si, n := range o.universeSizes {
		for i, clients := range o.universeClients {
			runs = append(runs, universeRun{symbols: n, clients: clients, perClient: o.symbols, full: i == 0})
		}
		if si == 0 {
			target = expectedFanout(pickSymbols(o.pick, first, o.symbols, n, o.seed), n)
			continue
		}
		if !o.universeMatched {
			continue
		}
		k, _, err := matchSymbols(target, o.pick, first, n, o.seed)
		if err != nil {
			return nil, fmt.Errorf("universe of %d, matched row: %w", n, err)
		}
		runs = append(runs, universeRun{symbols: n, clients: first, perClient: k, matched: true})
	}
	return runs, nil
}

// compareFirst sets each row's CPU per delivery and per frame over those
// of the first size's row with as many clients (not a matched one).
func (res *UniverseResult) compareFirst() {
	if len(res.Rows) == 0 {
		return
	}
	first := res.Rows[0].Symbols
	for i := range res.Rows {
		r := &res.Rows[i]
		for _, ref := range res.Rows {
			if ref.Symbols != first || ref.Clients != r.Clients || ref.Matched {
				continue
			}
			if ref.CPUPerDelivUS > 0 {
				r.DelivVsFirst = r.CPUPerDelivUS / ref.CPUPerDelivUS
			}
			if ref.CPUPerFrameUS > 0 {
				r.FrameVsFirst = r.CPUPerFrameUS / ref.CPUPerFrameUS
			}
			break
		}
	}
}

// universeRow measures one run: with full, the startup of a gateway with
// its own simulated market first; then a gateway fed the same market over
// NATS with the clients on it: the window, and with full RSS and what it
// keeps after -fill, and the time to list addedSymbols more.
func universeRow(ctx context.Context, o *options, bins *binCache, run universeRun, stderr io.Writer) (UniverseRow, error) {
	n, full := run.symbols, run.full
	row := UniverseRow{Symbols: n, Clients: run.clients, PerClient: run.perClient, Matched: run.matched}
	var err error
	if full {
		if row.StartupS, row.StartupRSSMB, err = simStartup(ctx, o, bins, n, stderr); err != nil {
			return row, err
		}
	}
	ro := *o
	ro.universe, ro.clients, ro.symbols = n, run.clients, run.perClient
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
	if full {
		if err := row.fill(ctx, r, o, fedFrom); err != nil {
			return row, err
		}
	}
	r.closeClients() // their counters are read once their readers are done
	row.addWindow(r.result(&w, nil), &w)
	return row, nil
}

// fill lets the feed run -fill more, then reads RSS and what the gateway
// keeps, and times the listing of addedSymbols more.
func (row *UniverseRow) fill(ctx context.Context, r *runner, o *options, fedFrom time.Time) error {
	if err := sleepCtx(ctx, o.fill); err != nil {
		return err
	}
	st, _ := r.scrape(ctx)
	row.RSSFullMB, row.FedS = st.rss/1e6, time.Since(fedFrom).Seconds()
	row.KeptMB, row.BudgetMB = st.kept/1e6, st.budget/1e6
	row.RingsFull = ringsFull(row.Symbols, o.rate*row.FedS)
	var err error
	row.AddMS, row.AddCPUMS, err = r.addSymbols(ctx, row.Symbols)
	return err
}

// addWindow takes the measured window's figures.
func (row *UniverseRow) addWindow(res *Result, w *window) {
	row.DeliveriesPS, row.FramesPS, row.P99MS, row.Gaps = res.DeliveriesPerSec, res.FramesPerSec, res.LatencyP99Ms, res.Gaps
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
	if res.GatewayCPUUsPerFrame != nil {
		row.CPUPerFrameUS = *res.GatewayCPUUsPerFrame
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
	full := 0
	for _, share := range feedShares(n) {
		if ticks*share >= gatewayHistory {
			full++
		}
	}
	return full
}

// printTable prints one line per market size and client count.
func (res *UniverseResult) printTable(out io.Writer) {
	budget := res.MemoryBudget
	if budget == "" {
		budget = "default"
	}
	fmt.Fprintf(out, "universe: %v clients × %d %s-picked symbols, feed %.0f ticks/s, memory budget %s, window %.0fs after %.0fs warm-up, RSS again %.0fs later\n",
		res.Clients, res.SymbolsPerClient, res.Pick, res.FeedRate, budget, res.DurationS, res.WarmupS, res.FillS)
	fmt.Fprintln(out, "matched rows: the first client count on enough picks each for the first size's fan-out; ×first: over the first size's row with as many clients")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "symbols\tclients\tsym/client\tmatched\tstartup s\tRSS at start MB\tlearn s\tfan-out\tticks/s\tdeliveries/s\tframes/s\tµs/tick\tµs/delivery\t×first\tµs/frame\t×first\tCPU/s\tp99 ms\tgaps\tRSS warm MB\tRSS later MB\tkept MB\tbudget MB\tfed s\trings full\tadd 1,000 ms\tadd CPU ms\tother CPU-s\t")
	for _, r := range res.Rows {
		matched := ""
		if r.Matched {
			matched = "yes"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%.2f\t%.1f\t%.2f\t%.1f\t%.0f\t%.0f\t%.0f\t%.2f\t%.3f\t%.2f\t%.2f\t%.2f\t%.3f\t%.1f\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%.0f\t%.0f\t%.1f\t\n",
			r.Symbols, r.Clients, r.PerClient, matched, r.StartupS, r.StartupRSSMB, r.LearnS, r.ExpectedFan, r.TicksPerSec, r.DeliveriesPS, r.FramesPS,
			r.CPUPerTickUS, r.CPUPerDelivUS, r.DelivVsFirst, r.CPUPerFrameUS, r.FrameVsFirst,
			r.CPUPerSec, r.P99MS, r.Gaps, r.RSSWarmMB, r.RSSFullMB, r.KeptMB, r.BudgetMB, r.FedS, r.RingsFull, r.AddMS, r.AddCPUMS, r.OtherCPUS)
	}
	tw.Flush()
}
