package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"
)

// Result is one run's figures; its JSON form is what -out writes and
// -compare reads. Server fields are null when /metrics could not be read
// or the server lacks the series (the baseline has no latency histogram).
type Result struct {
	Workload         string  `json:"workload"`
	Target           string  `json:"target"`
	URL              string  `json:"url"`
	Connections      int     `json:"connections"`
	ClientsRequested int     `json:"clients_requested"`
	SymbolsPerClient int     `json:"symbols_per_client"`
	Pick             string  `json:"pick"`
	Stream           string  `json:"stream"` // ticks, bars.1s or bars.1m
	FeedRate         float64 `json:"feed_rate"`
	ExpectedFanout   float64 `json:"expected_fanout"`
	DurationS        float64 `json:"duration_s"`
	WarmupS          float64 `json:"warmup_s"`

	Deliveries       uint64  `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	FramesPerSec     float64 `json:"frames_per_sec"`
	BytesPerSec      float64 `json:"bytes_per_sec"`
	// BytesPerSecPerClient is BytesPerSec over the connections.
	BytesPerSecPerClient float64 `json:"bytes_per_sec_per_client"`
	MessagesPerFrame     float64 `json:"messages_per_frame"`
	LatencyP50Ms         float64 `json:"latency_p50_ms"`
	LatencyP99Ms         float64 `json:"latency_p99_ms"`
	LatencyP999Ms        float64 `json:"latency_p999_ms"`
	LatencyMaxMs         float64 `json:"latency_max_ms"`
	Gaps                 uint64  `json:"gaps"`
	Repeats              uint64  `json:"repeats"`
	Unexpected           uint64  `json:"unexpected"`
	ConflatedTicks       uint64  `json:"conflated_ticks"` // delivered ticks with n > 1
	Notices              uint64  `json:"notices"`
	Partials             uint64  `json:"partials"`        // progress updates of forming bars (not deliveries)
	ProtocolErrors       uint64  `json:"protocol_errors"` // error replies (a refused Centrifugo subscribe)
	MaxRateAsked         float64 `json:"max_rate_asked"`
	OverRate             uint64  `json:"over_rate"` // client symbols updated more than max_rate/s (+1) in the window

	Feed             string   `json:"feed"` // sim, nats, or centrifugo-http
	Pinned           bool     `json:"pinned"`
	HarnessFedPerSec *float64 `json:"harness_fed_per_sec"` // ticks/s the harness's own feed handed on

	// Gateway CPU over what the reading clients counted in the window: the
	// same definition for every target.
	GatewayCPUUsPerFrame    *float64 `json:"gateway_cpu_us_per_frame"`
	GatewayCPUUsPerDelivery *float64 `json:"gateway_cpu_us_per_delivery"`
	// GatewayCPUPerSec is the server's CPU seconds per second of the
	// window: how many cores the workload keeps busy.
	GatewayCPUPerSec *float64 `json:"gateway_cpu_per_sec"`

	SlowClients         int            `json:"slow_clients"`
	SlowDropped         *float64       `json:"slow_dropped"`
	SlowDrain           map[string]int `json:"slow_drain"`
	Disconnects         map[string]int `json:"disconnects"`
	ConnectErrors       int            `json:"connect_errors"`
	ConnectErrorSamples []string       `json:"connect_error_samples,omitempty"`
	ConnectP50Ms        float64        `json:"connect_p50_ms"`
	ConnectP99Ms        float64        `json:"connect_p99_ms"`

	ServerRSSBytes        *float64 `json:"server_rss_bytes"`
	ServerRSSPerConnBytes *float64 `json:"server_rss_per_conn_bytes"`
	// Where a connection's bytes go, for a Go server that exports its
	// memstats: heap spans and goroutine stacks in use, and goroutines,
	// each as the change from before connecting to the window's start, per
	// connection.
	ServerHeapPerConnBytes  *float64 `json:"server_heap_per_conn_bytes"`
	ServerStackPerConnBytes *float64 `json:"server_stack_per_conn_bytes"`
	ServerGoroutinesPerConn *float64 `json:"server_goroutines_per_conn"`
	ServerCPUSeconds        *float64 `json:"server_cpu_seconds"`
	ServerCPUUsPerDelivery  *float64 `json:"server_cpu_us_per_delivery"`
	ServerMessagesPerSec    *float64 `json:"server_messages_per_sec"`
	ServerFeedTicksPerSec   *float64 `json:"server_feed_ticks_per_sec"`
	ServerSlowConsumers     *float64 `json:"server_slow_consumers"`
	ServerLatencyP50Ms      *float64 `json:"server_latency_p50_ms"`
	ServerLatencyP99Ms      *float64 `json:"server_latency_p99_ms"`
	HarnessCPUSeconds       float64  `json:"harness_cpu_seconds"`
	HarnessCPUUsPerDelivery float64  `json:"harness_cpu_us_per_delivery"`
	HostCPUSeconds          *float64 `json:"host_cpu_seconds"`
	OtherCPUSeconds         *float64 `json:"other_cpu_seconds"`

	GoVersion  string `json:"go_version"`
	NProc      int    `json:"nproc"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Timestamp  string `json:"timestamp"`
}

// result merges the clients' counters and histograms with the scrapes.
func (r *runner) result(w *window, slowDrain map[string]int) *Result {
	o := r.opt
	res := &Result{
		Workload: o.workload, Target: o.target, URL: r.base.String(),
		Connections: int(r.connected.Load()), ClientsRequested: o.clients,
		SymbolsPerClient: min(o.symbols, len(r.symbols)), Pick: o.pick, Stream: o.stream,
		FeedRate: r.rate, ExpectedFanout: r.fanout,
		DurationS: w.elapsed.Seconds(), WarmupS: o.warmup.Seconds(),
		SlowDrain: slowDrain, Disconnects: map[string]int{},
		ConnectErrors: r.connErrs, ConnectErrorSamples: r.errSamples,
		ConnectP50Ms: usToMs(r.connHist.ValueAtQuantile(50)), ConnectP99Ms: usToMs(r.connHist.ValueAtQuantile(99)),
		HarnessCPUSeconds: w.harnessCPU, MaxRateAsked: o.maxRate, Feed: o.feed, Pinned: o.pin,
		GoVersion: runtime.Version(), NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		Timestamp: time.Now().UTC().Format(time.RFC3339),
	}
	if o.target == "centrifugo" {
		res.Feed = "centrifugo-http"
	}
	if o.maxRate > 0 {
		for _, c := range r.clients {
			c.checkRate(o.maxRate, w.elapsed.Seconds())
		}
	}
	res.addClients(r.clients, r.sh, w.elapsed.Seconds())
	res.addServer(w, res.Connections)
	if r.feed != nil {
		res.HarnessFedPerSec = ptr(w.fed / w.elapsed.Seconds())
	}
	res.addHost(w)
	if res.Deliveries > 0 {
		res.HarnessCPUUsPerDelivery = w.harnessCPU * 1e6 / float64(res.Deliveries)
	}
	return res
}

// addClients sums the clients' counters and merges the latency shards.
func (res *Result) addClients(clients []*client, sh *shared, secs float64) {
	var n counters
	for _, c := range clients {
		n.add(c.n)
		res.ProtocolErrors += c.protoErrs
		if c.slow {
			res.SlowClients++
		}
		if c.dropErr != nil {
			res.Disconnects[closeLabel(c.dropErr)]++
		}
	}
	lat := newLatencyHist()
	for i := range sh.shards {
		lat.Merge(sh.shards[i].h)
	}
	res.Deliveries, res.Gaps, res.Repeats, res.Unexpected = n.deliveries, n.gaps, n.repeats, n.unexpected
	res.ConflatedTicks, res.Notices, res.OverRate, res.Partials = n.conflated, n.notices, n.overRate, n.partials
	res.DeliveriesPerSec = float64(n.deliveries) / secs
	res.FramesPerSec = float64(n.frames) / secs
	res.BytesPerSec = float64(n.bytes) / secs
	if res.Connections > 0 {
		res.BytesPerSecPerClient = res.BytesPerSec / float64(res.Connections)
	}
	if n.frames > 0 {
		res.MessagesPerFrame = float64(n.deliveries) / float64(n.frames)
	}
	res.LatencyP50Ms = usToMs(lat.ValueAtQuantile(50))
	res.LatencyP99Ms = usToMs(lat.ValueAtQuantile(99))
	res.LatencyP999Ms = usToMs(lat.ValueAtQuantile(99.9))
	res.LatencyMaxMs = usToMs(lat.Max())
}

// addServer derives the server figures from the scrapes that succeeded.
func (res *Result) addServer(w *window, conns int) {
	s0, s1, b, f := w.start, w.end, w.before, w.final
	if s1.cpuOK() {
		res.ServerRSSBytes = ptr(s1.rss)
	}
	if b.cpuOK() && s0.cpuOK() && conns > 0 {
		res.ServerRSSPerConnBytes = ptr((s0.rss - b.rss) / float64(conns))
	}
	if b.ok && s0.ok && s0.heap > 0 && conns > 0 {
		n := float64(conns)
		res.ServerHeapPerConnBytes = ptr((s0.heap - b.heap) / n)
		res.ServerStackPerConnBytes = ptr((s0.stacks - b.stacks) / n)
		res.ServerGoroutinesPerConn = ptr((s0.goroutines - b.goroutines) / n)
	}
	if b.ok && f.ok {
		res.SlowDropped = ptr(f.slow - b.slow)
	}
	if s0.cpuOK() && s1.cpuOK() {
		cpu := s1.cpu - s0.cpu
		res.ServerCPUSeconds = ptr(cpu)
		if secs := w.elapsed.Seconds(); secs > 0 {
			res.GatewayCPUPerSec = ptr(cpu / secs)
		}
		if frames := res.FramesPerSec * w.elapsed.Seconds(); res.Deliveries > 0 && frames > 0 {
			res.GatewayCPUUsPerDelivery = ptr(cpu * 1e6 / float64(res.Deliveries))
			res.GatewayCPUUsPerFrame = ptr(cpu * 1e6 / frames)
		}
	}
	if !s0.ok || !s1.ok {
		return
	}
	secs := s1.at.Sub(s0.at).Seconds()
	if s1.hasSent {
		res.ServerMessagesPerSec = ptr((s1.sent - s0.sent) / secs)
	}
	if s1.hasTicks {
		res.ServerFeedTicksPerSec = ptr((s1.ticks - s0.ticks) / secs)
	}
	res.ServerSlowConsumers = ptr(s1.slow - s0.slow)
	if sent := s1.sent - s0.sent; sent > 0 {
		res.ServerCPUUsPerDelivery = ptr((s1.cpu - s0.cpu) * 1e6 / sent)
	}
	if p := bucketQuantile(s0.latency, s1.latency, 0.5); !math.IsNaN(p) {
		res.ServerLatencyP50Ms = ptr(p * 1e3)
	}
	if p := bucketQuantile(s0.latency, s1.latency, 0.99); !math.IsNaN(p) {
		res.ServerLatencyP99Ms = ptr(p * 1e3)
	}
}

// addHost reports the machine's busy CPU in the window and the part of it
// neither the server nor the harness used: other load skews every figure.
func (res *Result) addHost(w *window) {
	if !w.hostOK {
		return
	}
	res.HostCPUSeconds = ptr(w.hostCPU)
	if res.ServerCPUSeconds != nil {
		res.OtherCPUSeconds = ptr(max(0, w.hostCPU-w.harnessCPU-*res.ServerCPUSeconds))
	}
}

func ptr(v float64) *float64 { return &v }

func usToMs(us int64) float64 { return float64(us) / 1e3 }

// harnessCPU is this process's user+system CPU time in seconds.
func harnessCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// printTable writes the human summary.
func (res *Result) printTable(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("workload / target", "%s / %s  (%s, %s, %d symbols/client, %s)", res.Workload, res.Target, res.URL, res.Stream, res.SymbolsPerClient, res.Pick)
	row("connections", "%d of %d  (connect errors %d, connect p50 %.1f ms, p99 %.1f ms)", res.Connections, res.ClientsRequested, res.ConnectErrors, res.ConnectP50Ms, res.ConnectP99Ms)
	row("feed rate", "%.1f ticks/s  (expected fan-out %.1f; server saw %s ticks/s)", res.FeedRate, res.ExpectedFanout, fmtOpt(res.ServerFeedTicksPerSec, 1))
	row("window", "%.1f s after %.1f s warm-up", res.DurationS, res.WarmupS)
	row("deliveries/s", "%.0f  (server sent %s/s)", res.DeliveriesPerSec, fmtOpt(res.ServerMessagesPerSec, 0))
	row("frames/s, bytes/s", "%.0f, %.1f MB/s  (%.2f msgs/frame, %.0f bytes/s per client)", res.FramesPerSec, res.BytesPerSec/1e6, res.MessagesPerFrame, res.BytesPerSecPerClient)
	latency := "latency ms"
	if res.Stream != streamTicks && res.Stream != streamBook {
		latency = "bar latency ms"
	}
	row(latency, "p50 %.2f  p99 %.2f  p99.9 %.2f  max %.2f", res.LatencyP50Ms, res.LatencyP99Ms, res.LatencyP999Ms, res.LatencyMaxMs)
	row("server latency ms", "p50 %s  p99 %s", fmtOpt(res.ServerLatencyP50Ms, 2), fmtOpt(res.ServerLatencyP99Ms, 2))
	row("gaps / repeats / unexpected", "%d / %d / %d  (conflated ticks %d, notices %d, protocol errors %d)", res.Gaps, res.Repeats, res.Unexpected, res.ConflatedTicks, res.Notices, res.ProtocolErrors)
	if res.Stream != streamTicks && res.Stream != streamBook {
		row("bars", "%s: latency is receive time - bar end (t + interval); gaps by final-bar seq and span (spans > 1: %d, partials %d)", res.Stream, res.ConflatedTicks, res.Partials)
	}
	if res.MaxRateAsked > 0 {
		row("max_rate", "%g/s asked; %d client symbols over it", res.MaxRateAsked, res.OverRate)
	}
	row("disconnects", "%v  (slow clients %d, server dropped %s, slow drain %v)", res.Disconnects, res.SlowClients, fmtOpt(res.SlowDropped, 0), res.SlowDrain)
	row("server RSS", "%s MB  (%s bytes/conn)", fmtOpt(scale(res.ServerRSSBytes, 1e-6), 1), fmtOpt(res.ServerRSSPerConnBytes, 0))
	row("per conn", "heap %s B, stacks %s B, goroutines %s", fmtOpt(res.ServerHeapPerConnBytes, 0), fmtOpt(res.ServerStackPerConnBytes, 0), fmtOpt(res.ServerGoroutinesPerConn, 3))
	row("CPU s (window)", "server %s  harness %.2f  (µs/delivery: server %s, harness %.3f)", fmtOpt(res.ServerCPUSeconds, 2), res.HarnessCPUSeconds, fmtOpt(res.ServerCPUUsPerDelivery, 3), res.HarnessCPUUsPerDelivery)
	row("gateway CPU µs", "per frame %s, per delivery %s, CPU-s per s %s  (feed %s, pinned %v, harness fed %s ticks/s)", fmtOpt(res.GatewayCPUUsPerFrame, 2), fmtOpt(res.GatewayCPUUsPerDelivery, 3), fmtOpt(res.GatewayCPUPerSec, 3), res.Feed, res.Pinned, fmtOpt(res.HarnessFedPerSec, 1))
	row("host", "%s, %d CPUs, GOMAXPROCS %d, %s", res.GoVersion, res.NProc, res.GOMAXPROCS, res.Timestamp)
	row("host CPU s (window)", "%s busy, of which %s by other processes", fmtOpt(res.HostCPUSeconds, 2), fmtOpt(res.OtherCPUSeconds, 2))
	for _, e := range res.ConnectErrorSamples {
		row("connect error", "%s", e)
	}
	tw.Flush()
}

func fmtOpt(v *float64, prec int) string {
	if v == nil {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", prec, *v)
}

func scale(v *float64, f float64) *float64 {
	if v == nil {
		return nil
	}
	return ptr(*v * f)
}

// writeJSON writes v indented to path; nothing if path is empty.
func writeJSON(path string, v any) error {
	if path == "" {
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // reasons such as "p99 > 50 ms" stay readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// compareFiles prints b/a for every numeric field the two results share;
// maps such as disconnects are flattened one level (disconnects.4001).
func compareFiles(out io.Writer, pathA, pathB string) error {
	a, err := readFlat(pathA)
	if err != nil {
		return err
	}
	b, err := readFlat(pathB)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "field\t%s\t%s\tb/a\t\n", pathA, pathB)
	for _, k := range slices.Sorted(maps.Keys(a)) {
		vb, ok := b[k]
		if !ok {
			continue
		}
		ratio := "-"
		if a[k] != 0 {
			ratio = fmt.Sprintf("%.3f", vb/a[k])
		}
		fmt.Fprintf(tw, "%s\t%.4g\t%.4g\t%s\t\n", k, a[k], vb, ratio)
	}
	return tw.Flush()
}

// readFlat loads a result file's numeric fields, nested ones as parent.child.
func readFlat(path string) (map[string]float64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	flat := map[string]float64{}
	for k, v := range m {
		switch v := v.(type) {
		case float64:
			flat[k] = v
		case map[string]any:
			for k2, v2 := range v {
				if f, ok := v2.(float64); ok {
					flat[k+"."+k2] = f
				}
			}
		}
	}
	return flat, nil
}
