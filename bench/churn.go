package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"
)

// maxChurnLife is the longest a churn connection reads before it leaves.
const maxChurnLife = 2 * time.Second

// ChurnResult is what -workload churn reports: the server's goroutines,
// RSS and descriptors before the churn (steady readers connected), at their
// peak during it and -settle after it (before and after: the lowest of five
// samples over a second), and what the steady readers saw.
type ChurnResult struct {
	Workload      string         `json:"workload"`
	Target        string         `json:"target"`
	ChurnRate     float64        `json:"churn_rate"`
	DurationS     float64        `json:"duration_s"`
	SettleS       float64        `json:"settle_s"`
	Opened        uint64         `json:"opened"`
	OpenErrors    uint64         `json:"open_errors"`
	CleanCloses   uint64         `json:"clean_closes"`
	Resets        uint64         `json:"resets"`
	Server        churnServer    `json:"server"`
	Steady        int            `json:"steady_readers"`
	SteadyTicks   uint64         `json:"steady_deliveries"`
	SteadyGaps    uint64         `json:"steady_gaps"`
	SteadyRepeats uint64         `json:"steady_repeats"`
	SteadyDrops   map[string]int `json:"steady_disconnects"`
	Timestamp     string         `json:"timestamp"`
}

// churnServer holds the three samples of each server figure.
type churnServer struct {
	Goroutines [3]float64 `json:"goroutines_before_peak_after"`
	RSSBytes   [3]float64 `json:"rss_bytes_before_peak_after"`
	FDs        [3]float64 `json:"fds_before_peak_after"`
}

// churner opens and ends the short-lived connections.
type churner struct {
	r                           *runner
	picks                       [][]int
	opened, errs, clean, resets atomic.Uint64
	wg                          sync.WaitGroup
}

// runChurn connects the steady readers, then opens -churn-rate short-lived
// connections per second for -duration (each reads 0–2 s, then closes
// cleanly or resets, alternately), waits -settle, and reports.
func runChurn(ctx context.Context, o *options, bins *binCache, stderr io.Writer) (*ChurnResult, error) {
	r := newRunner(o, stderr)
	defer r.mc.CloseIdleConnections()
	defer r.stopServer()
	if err := r.prepare(ctx, bins); err != nil {
		return nil, err
	}
	defer r.closeClients()
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, o.warmup); err != nil {
		return nil, err
	}
	n := int(o.churnRate*o.duration.Seconds()) + 1
	ch := &churner{r: r, picks: pickSymbols(o.pick, n, o.symbols, len(r.symbols), o.seed+1)}
	var srv churnServer
	srv.set(0, ch.quietest(ctx))
	r.sh.phase.Store(phaseMeasure)
	peak := ch.run(ctx, o)
	srv.set(1, peak)
	fmt.Fprintf(stderr, "churn over: %d opened; settling %s\n", ch.opened.Load(), o.settle)
	if err := sleepCtx(ctx, o.settle); err != nil {
		return nil, err
	}
	srv.set(2, ch.quietest(ctx))
	r.sh.phase.Store(phaseDone)
	r.closeClients()
	return ch.result(srv, len(r.clients)), nil
}

// run opens the connections on schedule while sampling the server each
// second, waits for them to end, and returns the per-figure peak.
func (ch *churner) run(ctx context.Context, o *options) serverStats {
	var peak serverStats
	sample := time.NewTicker(time.Second)
	defer sample.Stop()
	start := time.Now()
	for i := range ch.picks {
		due := start.Add(time.Duration(float64(i) / o.churnRate * float64(time.Second)))
		if time.Now().After(start.Add(o.duration)) {
			break
		}
		select {
		case <-ctx.Done():
		case <-sample.C:
			st, _ := ch.r.scrape(ctx)
			peak.goroutines, peak.rss, peak.fds = max(peak.goroutines, st.goroutines), max(peak.rss, st.rss), max(peak.fds, st.fds)
		case <-time.After(time.Until(due)):
		}
		if ctx.Err() != nil {
			break
		}
		ch.wg.Go(func() { ch.one(ctx, i) })
	}
	ch.wg.Wait()
	return peak
}

// one is a short-lived connection: dial, subscribe, read 0–2 s, then a
// clean close (even i) or a TCP reset (odd i).
func (ch *churner) one(ctx context.Context, i int) {
	r := ch.r
	rng := rand.New(rand.NewPCG(r.opt.seed, uint64(i)))
	syms := make([]string, len(ch.picks[i]))
	for j, k := range ch.picks[i] {
		syms[j] = r.symbols[k]
	}
	var raw net.Conn
	d := &net.Dialer{}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, nw, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, nw, addr)
		raw = c
		return c, err
	}}}
	u := *r.base
	u.Host = hostPort(r.opt.hosts[i%len(r.opt.hosts)], r.base.Port())
	u.RawQuery = url.Values{"symbols": {strings.Join(syms, ",")}}.Encode()
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	conn, _, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPClient: hc})
	cancel()
	if err != nil {
		ch.errs.Add(1)
		return
	}
	ch.opened.Add(1)
	conn.SetReadLimit(clientReadMax)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, rd, err := conn.Reader(context.Background()); err != nil {
				return
			} else if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
		}
	}()
	_ = sleepCtx(ctx, time.Duration(rng.Int64N(int64(maxChurnLife))))
	if i%2 == 0 {
		_ = conn.Close(websocket.StatusNormalClosure, "")
		ch.clean.Add(1)
	} else {
		if tc, ok := raw.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST
		}
		raw.Close()
		ch.resets.Add(1)
	}
	conn.CloseNow()
	<-done
}

// quietest samples the server five times over a second and keeps each
// figure's minimum: tickgate starts a writer goroutine only while a client
// has ticks to write, so a single sample counts writers in flight.
func (ch *churner) quietest(ctx context.Context) serverStats {
	low, _ := ch.r.scrape(ctx)
	for range 4 {
		if sleepCtx(ctx, 250*time.Millisecond) != nil {
			break
		}
		st, _ := ch.r.scrape(ctx)
		low.goroutines, low.rss, low.fds = min(low.goroutines, st.goroutines), min(low.rss, st.rss), min(low.fds, st.fds)
	}
	return low
}

func (s *churnServer) set(i int, st serverStats) {
	s.Goroutines[i], s.RSSBytes[i], s.FDs[i] = st.goroutines, st.rss, st.fds
}

func (ch *churner) result(srv churnServer, steady int) *ChurnResult {
	o := ch.r.opt
	res := &ChurnResult{
		Workload: o.workload, Target: o.target, ChurnRate: o.churnRate,
		DurationS: o.duration.Seconds(), SettleS: o.settle.Seconds(),
		Opened: ch.opened.Load(), OpenErrors: ch.errs.Load(), CleanCloses: ch.clean.Load(), Resets: ch.resets.Load(),
		Server: srv, Steady: steady, SteadyDrops: map[string]int{}, Timestamp: time.Now().UTC().Format(time.RFC3339),
	}
	for _, c := range ch.r.clients {
		res.SteadyTicks += c.n.deliveries
		res.SteadyGaps += c.n.gaps
		res.SteadyRepeats += c.n.repeats
		if c.dropErr != nil {
			res.SteadyDrops[closeLabel(c.dropErr)]++
		}
	}
	return res
}

// printTable writes the churn summary.
func (res *ChurnResult) printTable(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	s := res.Server
	row("churn / target", "%s / %s, %.0f connects/s for %.0f s, settle %.0f s", res.Workload, res.Target, res.ChurnRate, res.DurationS, res.SettleS)
	row("short-lived", "%d opened (%d errors): %d closed cleanly, %d reset", res.Opened, res.OpenErrors, res.CleanCloses, res.Resets)
	row("server goroutines", "before %.0f  peak %.0f  after %.0f", s.Goroutines[0], s.Goroutines[1], s.Goroutines[2])
	row("server fds", "before %.0f  peak %.0f  after %.0f", s.FDs[0], s.FDs[1], s.FDs[2])
	row("server RSS MB", "before %.1f  peak %.1f  after %.1f", s.RSSBytes[0]/1e6, s.RSSBytes[1]/1e6, s.RSSBytes[2]/1e6)
	row("steady readers", "%d: %d ticks, %d gaps, %d repeats, disconnects %v", res.Steady, res.SteadyTicks, res.SteadyGaps, res.SteadyRepeats, res.SteadyDrops)
	tw.Flush()
}
