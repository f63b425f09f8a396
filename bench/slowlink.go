package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/internal/slowlink"
)

// The slowlink workload (issue 22): the gateway's own simulated feed to a
// "*" client and a max_rate 4 "*" client behind each shaped link
// (internal/slowlink: a namespace behind tbf at -slowlink-rates, with
// -slowlink-loss dropped each way; no added delay, the kernel here has no
// netem), beside a reference "*" client on loopback. Per client it
// reports bytes/s, the tick latency (receipt less ts) and the age of the
// displayed price: every 100 ms, for every symbol it has a price of, now
// less the ts of the last tick it got for it. A quiet symbol's displayed
// price is old on any link, which is why the reference's age is not zero.

// ageEvery is how often the displayed prices' ages are sampled.
const ageEvery = 100 * time.Millisecond

// SlowlinkResult is what -workload slowlink reports.
type SlowlinkResult struct {
	Workload  string           `json:"workload"`
	FeedRate  float64          `json:"feed_rate"`
	Loss      float64          `json:"loss"`
	DurationS float64          `json:"duration_s"`
	Clients   []SlowlinkClient `json:"clients"`
	Timestamp string           `json:"timestamp"`
}

// SlowlinkClient is one client's figures over the measured window.
type SlowlinkClient struct {
	Name        string   `json:"name"` // link and subscription: "500kbit *", "ref *"
	Link        string   `json:"link"` // tbf rate; "loopback" for the reference
	MaxRate     float64  `json:"max_rate"`
	BytesPerS   float64  `json:"bytes_per_sec"`
	Ticks       uint64   `json:"ticks"`
	LatencyP50  float64  `json:"latency_p50_ms"`
	LatencyP99  float64  `json:"latency_p99_ms"`
	AgeP50      float64  `json:"age_p50_ms"`
	AgeP99      float64  `json:"age_p99_ms"`
	Notices     []string `json:"notices"` // conflated and live, in order, over the whole run
	Transitions int      `json:"transitions"`
	Closed      string   `json:"closed"` // how the gateway ended it before the harness did, "" if it did not
}

// linkClient is one client of the slowlink workload.
type linkClient struct {
	name    string
	rate    string // the link's; "" on loopback
	maxRate float64
	hostIP  string // the gateway's address the client dials: the link's host end, or loopback
	hc      *http.Client
	conn    *websocket.Conn

	measuring *atomic.Bool // shared: the measured window is on

	mu       sync.Mutex // protects the fields below
	shown    map[string]int64
	lat, age *hdrhistogram.Histogram
	bytes    uint64
	ticks    uint64
	notices  []string
	closed   string
}

// runSlowlink spawns the gateway, opens the links and clients, warms up,
// measures and reports. Every link is deleted before it returns.
func runSlowlink(ctx context.Context, o *options, bins *binCache, stderr io.Writer) (*SlowlinkResult, error) {
	bin, err := bins.path(ctx, o, stderr)
	if err != nil {
		return nil, err
	}
	srv, err := startServer(ctx, o, bin, o.rate, "", stderr)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	measuring := &atomic.Bool{}
	clients := []*linkClient{newLinkClient("ref *", "", 0, "127.0.0.1", &http.Client{Transport: &http.Transport{Proxy: nil}}, measuring)}
	for _, rate := range o.slowRates {
		for _, mr := range []float64{0, 4} {
			l, err := slowlink.Open(slowlink.Config{Rate: rate, Loss: o.slowLoss})
			if err != nil {
				return nil, fmt.Errorf("%w (needs root, iproute2 and, for loss, iptables)", err)
			}
			defer l.Close()
			name := rate + " *"
			if mr > 0 {
				name = fmt.Sprintf("%s max_rate %g", rate, mr)
			}
			hc := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: l.DialContext}}
			clients = append(clients, newLinkClient(name, rate, mr, l.Host.String(), hc, measuring))
		}
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		if err := c.dial(ctx, srv.port); err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		defer c.conn.CloseNow()
		wg.Go(c.read)
	}
	stopAges := sampleAges(clients)
	if err := sleepCtx(ctx, o.warmup); err != nil {
		return nil, err
	}
	measuring.Store(true)
	start := time.Now()
	err = sleepCtx(ctx, o.duration)
	measuring.Store(false)
	elapsed := time.Since(start)
	stopAges()
	for _, c := range clients {
		c.conn.CloseNow()
	}
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return slowlinkResult(o, clients, elapsed), nil
}

func newLinkClient(name, rate string, maxRate float64, hostIP string, hc *http.Client, measuring *atomic.Bool) *linkClient {
	return &linkClient{
		name: name, rate: rate, maxRate: maxRate, hostIP: hostIP, hc: hc, measuring: measuring,
		shown: map[string]int64{}, lat: newLatencyHist(), age: newLatencyHist(),
	}
}

// dial connects c to the gateway on port, at the link's host address,
// subscribed to "*" (with max_rate, by a subscribe op).
func (c *linkClient) dial(ctx context.Context, port int) error {
	u := "ws://" + hostPort(c.hostIP, strconv.Itoa(port)) + "/ws"
	if c.maxRate == 0 {
		u += "?symbols=*"
	}
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, u, &websocket.DialOptions{HTTPClient: c.hc})
	if err != nil {
		return err
	}
	conn.SetReadLimit(clientReadMax)
	c.conn = conn
	if c.maxRate == 0 {
		return nil
	}
	op := fmt.Sprintf(`{"op":"subscribe","id":1,"symbols":["*"],"max_rate":%g}`, c.maxRate)
	return conn.Write(dctx, websocket.MessageText, []byte(op))
}

// read reads c's frames until its connection ends.
func (c *linkClient) read() {
	for {
		_, frame, err := c.conn.Read(context.Background())
		if err != nil {
			if code := websocket.CloseStatus(err); code != -1 && c.measuring.Load() {
				c.mu.Lock()
				c.closed = fmt.Sprintf("%d %s", code, err)
				c.mu.Unlock()
			}
			return
		}
		c.frame(frame, time.Now().UnixNano())
	}
}

// frame takes in one frame received at now.
func (c *linkClient) frame(frame []byte, now int64) {
	on := c.measuring.Load()
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.bytes += uint64(len(frame))
	}
	for line, rest := nextLine(frame); len(line) > 0; line, rest = nextLine(rest) {
		if bytes.HasPrefix(line, noticePrefix) {
			for _, code := range []string{"conflated", "live"} {
				if bytes.Contains(line, []byte(`"code":"`+code+`"`)) {
					c.notices = append(c.notices, code)
				}
			}
			continue
		}
		t, ok := parseTick(line)
		if !ok {
			continue
		}
		if sym := string(t.sym); t.ts > c.shown[sym] {
			c.shown[sym] = t.ts
		}
		if on {
			c.ticks++
			_ = c.lat.RecordValue(min(max((now-t.ts)/1000, 1), maxLatencyUS))
		}
	}
}

// sampleAges records, every ageEvery while the window is on, each
// client's displayed prices' ages, until stop is called.
func sampleAges(clients []*linkClient) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ended)
		tick := time.NewTicker(ageEvery)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				for _, c := range clients {
					c.sampleAge(now.UnixNano())
				}
			}
		}
	}()
	return func() { close(done); <-ended }
}

func (c *linkClient) sampleAge(now int64) {
	if !c.measuring.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ts := range c.shown {
		_ = c.age.RecordValue(min(max((now-ts)/1000, 1), maxLatencyUS))
	}
}

func slowlinkResult(o *options, clients []*linkClient, elapsed time.Duration) *SlowlinkResult {
	res := &SlowlinkResult{Workload: o.workload, FeedRate: o.rate, Loss: o.slowLoss, DurationS: elapsed.Seconds(), Timestamp: time.Now().UTC().Format(time.RFC3339)}
	for _, c := range clients {
		link := c.rate
		if link == "" {
			link = "loopback"
		}
		sc := SlowlinkClient{
			Name: c.name, Link: link, MaxRate: c.maxRate,
			BytesPerS: float64(c.bytes) / elapsed.Seconds(), Ticks: c.ticks,
			LatencyP50: usToMs(c.lat.ValueAtQuantile(50)), LatencyP99: usToMs(c.lat.ValueAtQuantile(99)),
			AgeP50: usToMs(c.age.ValueAtQuantile(50)), AgeP99: usToMs(c.age.ValueAtQuantile(99)),
			Notices: c.notices, Transitions: len(c.notices), Closed: c.closed,
		}
		if sc.Notices == nil {
			sc.Notices = []string{}
		}
		res.Clients = append(res.Clients, sc)
	}
	return res
}

// printTable writes one row per client.
func (res *SlowlinkResult) printTable(out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "slowlink\tfeed %.0f ticks/s, loss %g each way, %.0f s measured\n", res.FeedRate, res.Loss, res.DurationS)
	fmt.Fprintln(tw, "client\tbytes/s\tticks\tlatency p50 / p99 s\tdisplayed age p50 / p99 s\tnotices\tclosed")
	for _, c := range res.Clients {
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%.2f / %.2f\t%.2f / %.2f\t%s\t%s\n", c.Name, c.BytesPerS, c.Ticks,
			c.LatencyP50/1e3, c.LatencyP99/1e3, c.AgeP50/1e3, c.AgeP99/1e3, strings.Join(c.Notices, ","), c.Closed)
	}
	tw.Flush()
}
