package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/feed/sim"
)

const (
	maxInflightDials = 1000
	slowDrainTimeout = 5 * time.Second // above the gateway's write_timeout
	closeWorkers     = 32
	histShards       = 64
)

// runner is the state of one measured run.
type runner struct {
	opt    *options
	stderr io.Writer
	hc     *http.Client // WebSocket handshakes
	mc     *http.Client // /symbols and /metrics
	base   *url.URL     // the target; each client swaps in its host
	metURL string
	rate   float64 // the feed rate asked of a spawned server (or assumed)
	fanout float64 // expected subscribers per tick, from the picks
	server *child
	feed   *harnessFeed // the harness's own feed (-feed nats, centrifugo); nil otherwise
	sh     *shared

	symbols []string
	clients []*client

	dialWG, readWG sync.WaitGroup
	connected      atomic.Int64
	closeOnce      sync.Once

	mu         sync.Mutex // protects the connect figures and bySource below
	bySource   map[string]*http.Client
	connHist   *hdrhistogram.Histogram
	connErrs   int
	errSamples []string
}

// window is what was measured between the two in-window scrapes.
type window struct {
	elapsed       time.Duration
	start, end    serverStats
	harnessCPU    float64
	hostCPU       float64 // every process's CPU, from /proc/stat; hostOK false if unknown
	hostOK        bool
	fed           float64     // ticks the harness's own feed handed on in the window
	before, final serverStats // before connecting; after the slow drain
}

// newRunner returns a runner for o with its HTTP clients: hc for the
// target, mc (with a timeout) for scraping /metrics.
func newRunner(o *options, stderr io.Writer) *runner {
	r := &runner{opt: o, stderr: stderr, sh: newShared(histShards), connHist: newLatencyHist()}
	r.hc = &http.Client{Transport: &http.Transport{Proxy: nil}}
	r.mc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	return r
}

// runOnce performs one run: plan, spawn (optionally), connect, warm up,
// measure, close, and returns the result. Every path out stops the child.
func runOnce(ctx context.Context, o *options, bins *binCache, stderr io.Writer) (*Result, error) {
	r := newRunner(o, stderr)
	defer r.mc.CloseIdleConnections()
	defer r.stopServer()
	if err := r.prepare(ctx, bins); err != nil {
		return nil, err
	}
	var w window
	w.before, _ = r.scrape(ctx)
	defer r.closeClients()
	if err := r.connect(ctx); err != nil {
		return nil, err
	}
	if err := sleepCtx(ctx, o.warmup); err != nil {
		return nil, err
	}
	if err := r.measure(ctx, &w); err != nil {
		return nil, err
	}
	slow := r.drainSlow(ctx)
	r.closeClients()
	w.final, _ = r.scrape(ctx)
	return r.result(&w, slow), nil
}

// prepare resolves the symbol list, the picks and the feed rate, then
// spawns the server if asked. A spawned server's symbols are planned from
// the sim feed's default list (the light rate must be known before the
// server starts) and checked against its /symbols.
func (r *runner) prepare(ctx context.Context, bins *binCache) error {
	base, err := url.Parse(r.opt.url)
	if err != nil {
		return err
	}
	r.base = base
	if r.opt.target == "centrifugo" {
		r.base.Path = "/connection/websocket"
	}
	if r.opt.spawn {
		r.symbols = slices.Clone(sim.DefaultSymbols)
	} else if r.symbols, err = fetchSymbols(ctx, r.mc, r.httpURL("/symbols")); err != nil {
		return err
	}
	picks := pickSymbols(r.opt.pick, r.opt.clients, r.opt.symbols, len(r.symbols), r.opt.seed)
	r.fanout = expectedFanout(picks, len(r.symbols))
	r.rate = r.opt.rate
	if r.rate == 0 {
		r.rate = lightDeliveries / r.fanout
		fmt.Fprintf(r.stderr, "light: expected fan-out %.1f subscribers/tick, so feed rate %.1f ticks/s for ~%d deliveries/s\n", r.fanout, r.rate, lightDeliveries)
	}
	if r.opt.spawn {
		if err := r.spawn(ctx, bins); err != nil {
			return err
		}
	}
	r.metURL = r.opt.metricsURL
	if r.metURL == "" && r.opt.target != "floor" { // the floor has no /metrics
		r.metURL = r.httpURL("/metrics")
	}
	r.buildClients(picks)
	return nil
}

// spawn starts the server (and the harness's feed, if it has one) and
// points base at it.
func (r *runner) spawn(ctx context.Context, bins *binCache) error {
	bin, err := bins.path(ctx, r.opt, r.stderr)
	if err != nil {
		return err
	}
	var natsURL string
	if r.opt.feed == "nats" {
		if r.feed, err = startNATS(); err != nil {
			return err
		}
		natsURL = r.feed.url()
	}
	if r.server, err = startServer(ctx, r.opt, bin, r.rate, natsURL, r.stderr); err != nil {
		return err
	}
	r.base.Host = "127.0.0.1:" + strconv.Itoa(r.server.port)
	if r.opt.target == "centrifugo" {
		r.feed = startCentrifugoFeed(r.server.port)
	}
	if r.feed != nil {
		if err := r.feed.run(r.rate, r.opt.stream == streamBook, r.stderr); err != nil {
			return err
		}
	}
	if r.opt.target == "centrifugo" {
		return nil // no /symbols: its channels are whatever the harness names
	}
	got, err := fetchSymbols(ctx, r.mc, r.httpURL("/symbols"))
	if err != nil {
		return err
	}
	if !slices.Equal(got, r.symbols) {
		return fmt.Errorf("spawned server lists %d symbols, not sim.DefaultSymbols (TICKGATE_FEED_SIM_SYMBOLS set?)", len(got))
	}
	return nil
}

// httpURL is path on the target's host over http.
func (r *runner) httpURL(path string) string {
	scheme := "http"
	if r.base.Scheme == "wss" {
		scheme = "https"
	}
	return scheme + "://" + r.base.Host + path
}

// buildClients makes one client per pick, its host chosen round-robin
// from -hosts and its symbols in ?symbols=.
func (r *runner) buildClients(picks [][]int) {
	port := r.base.Port()
	r.clients = make([]*client, len(picks))
	nslow := 0
	for i, p := range picks {
		syms := make([]string, len(p))
		for j, k := range p {
			syms[j] = r.symbols[k]
		}
		slow := isSlow(i, r.opt.slowFraction)
		if slow {
			nslow++
		}
		r.clients[i] = r.newClient(i, syms, slow, port)
	}
	if nslow > 0 {
		fmt.Fprintf(r.stderr, "%d of %d clients never read\n", nslow, len(picks))
	}
}

// newClient sets up client i for the target's protocol. Centrifugo binds
// 127.0.0.1 only, so its clients spread over -hosts as source addresses;
// the others listen on every loopback address and are dialled at -hosts.
func (r *runner) newClient(i int, syms []string, slow bool, port string) *client {
	host := r.opt.hosts[i%len(r.opt.hosts)]
	u := *r.base
	var hc *http.Client
	if r.opt.target == "centrifugo" {
		u.Host = hostPort("127.0.0.1", port)
		hc = r.sourceClient(host)
	} else {
		u.Host = hostPort(host, port)
	}
	op := r.opt.maxRate > 0 || r.opt.stream != streamTicks
	if !op && r.opt.target != "centrifugo" {
		u.RawQuery = "symbols=" + strings.Join(syms, ",")
	}
	c := newClient(i, u.String(), syms, slow)
	c.proto, c.hc = targets[r.opt.target], hc
	if op && c.proto == protoTickgate {
		c.hello = subscribeOp(syms, r.opt.stream, r.opt.maxRate)
		c.bars = streamInterval([]byte(r.opt.stream))
		c.book = r.opt.stream == streamBook
		if r.opt.maxRate > 0 {
			c.inWin = make([]uint32, len(syms))
		}
	}
	return c
}

// subscribeOp is {"op":"subscribe","id":1,"symbols":[...]} with
// "stream" unless it is ticks and "max_rate" if maxRate > 0.
func subscribeOp(syms []string, stream string, maxRate float64) []byte {
	op := map[string]any{"op": "subscribe", "id": 1, "symbols": syms}
	if stream != streamTicks {
		op["stream"] = stream
	}
	if maxRate > 0 {
		op["max_rate"] = maxRate
	}
	b, _ := json.Marshal(op)
	return b
}

// sourceClient is the handshake client whose connections leave from host.
func (r *runner) sourceClient(host string) *http.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	if hc, ok := r.bySource[host]; ok {
		return hc
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext}}
	if r.bySource == nil {
		r.bySource = map[string]*http.Client{}
	}
	r.bySource[host] = hc
	return hc
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		return host
	}
	return host + ":" + port
}

// isSlow spreads the fraction f of slow clients evenly over the indexes.
func isSlow(i int, f float64) bool {
	return int(float64(i+1)*f) > int(float64(i)*f)
}

// scrape reads the server's /metrics (if it has one) and, for a spawned
// server, its CPU, RSS and descriptors from /proc, the same way for every
// target.
func (r *runner) scrape(ctx context.Context) (serverStats, error) {
	st := serverStats{at: time.Now()}
	var err error
	if r.metURL != "" {
		if st, err = scrape(ctx, r.mc, r.metURL); err != nil {
			fmt.Fprintln(r.stderr, "warning:", err)
		}
	}
	if r.server != nil {
		st.addProc(r.server.cmd.Process.Pid)
	}
	return st, err
}

// connect dials every client at -ramp per second, at most
// maxInflightDials at once, and starts the read loops. It returns when
// every dial has finished.
func (r *runner) connect(ctx context.Context) error {
	start := time.Now()
	sem := make(chan struct{}, maxInflightDials)
	for i, c := range r.clients {
		due := start.Add(time.Duration(float64(i) / r.opt.ramp * float64(time.Second)))
		if sleepCtx(ctx, time.Until(due)) != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		r.dialWG.Go(func() {
			defer func() { <-sem }()
			r.dialOne(ctx, c)
		})
	}
	r.dialWG.Wait()
	fmt.Fprintf(r.stderr, "connected %d of %d in %.1fs (%d errors)\n",
		r.connected.Load(), len(r.clients), time.Since(start).Seconds(), r.connErrs)
	return ctx.Err()
}

func (r *runner) dialOne(ctx context.Context, c *client) {
	d, err := c.dial(ctx, r.hc)
	r.mu.Lock()
	if err != nil {
		r.connErrs++
		if len(r.errSamples) < 5 {
			r.errSamples = append(r.errSamples, err.Error())
		}
	} else {
		_ = r.connHist.RecordValue(min(max(d.Microseconds(), 1), maxLatencyUS))
	}
	r.mu.Unlock()
	if err != nil {
		return
	}
	r.connected.Add(1)
	if !c.slow {
		r.readWG.Go(func() { c.readLoop(r.sh) })
	}
}

// measure runs the counted window between two scrapes.
func (r *runner) measure(ctx context.Context, w *window) error {
	w.start, _ = r.scrape(ctx)
	cpu0 := harnessCPU()
	host0, ok0 := hostBusyCPU()
	fed0 := r.fed()
	prof := r.startServerProfile(ctx)
	r.sh.phase.Store(phaseMeasure)
	start := time.Now()
	err := sleepCtx(ctx, r.opt.duration)
	r.sh.phase.Store(phaseDone)
	w.elapsed = time.Since(start)
	w.fed = float64(r.fed() - fed0)
	if perr := prof(); perr != nil {
		fmt.Fprintln(r.stderr, "warning: server profile:", perr)
	}
	w.harnessCPU = harnessCPU() - cpu0
	host1, ok1 := hostBusyCPU()
	w.hostCPU, w.hostOK = host1-host0, ok0 && ok1
	if err != nil {
		return err
	}
	w.end, _ = r.scrape(ctx)
	if err := r.fetchServerHeap(ctx); err != nil {
		fmt.Fprintln(r.stderr, "warning: server heap profile:", err)
	}
	return nil
}

// drainSlow reads what the never-reading clients were sent, to learn how
// the server ended them, and counts the outcomes by close code.
func (r *runner) drainSlow(ctx context.Context) map[string]int {
	ctx, cancel := context.WithTimeout(ctx, slowDrainTimeout)
	defer cancel()
	out := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range r.clients {
		if !c.slow || c.conn == nil {
			continue
		}
		wg.Go(func() {
			err := c.drainSlow(ctx)
			label := closeLabel(err)
			if ctx.Err() != nil && websocket.CloseStatus(err) == -1 {
				label = "still_open"
			}
			mu.Lock()
			out[label]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// closeClients closes every connection without a handshake and waits for
// the read loops. Safe to call more than once.
func (r *runner) closeClients() {
	r.closeOnce.Do(func() {
		r.sh.phase.Store(phaseClosing)
		r.dialWG.Wait()
		work := make(chan *client)
		var wg sync.WaitGroup
		for range closeWorkers {
			wg.Go(func() {
				for c := range work {
					_ = c.conn.CloseNow()
				}
			})
		}
		for _, c := range r.clients {
			if c.conn != nil {
				work <- c
			}
		}
		close(work)
		wg.Wait()
		r.readWG.Wait()
	})
}

// stopServer stops the harness's feed, then the server.
func (r *runner) stopServer() {
	if r.feed != nil {
		r.feed.stop()
	}
	if r.server != nil {
		r.server.stop()
	}
}

// fed is the ticks the harness's own feed has handed on; 0 without one.
func (r *runner) fed() uint64 {
	if r.feed == nil {
		return 0
	}
	return r.feed.published()
}

// closeLabel names how a connection ended: its close code, or
// no_close_frame when the TCP connection ended without one.
func closeLabel(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return strconv.Itoa(int(code))
	}
	return "no_close_frame"
}

// sleepCtx sleeps for d or until ctx ends, returning ctx.Err() then.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
