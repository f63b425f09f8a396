package subscribe

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
)

// latencyBuckets are the classic buckets of delivery_latency_seconds,
// 50 µs to 5 s; scrapers that understand native histograms get those too.
var latencyBuckets = []float64{
	50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3, 1, 2.5, 5,
}

// reject is why an upgrade was refused, the label of
// tickgate_connections_rejected_total.
type reject uint8

const (
	rejectMaxConnections reject = iota
	rejectPerIP
	rejectDraining
	rejectMaxConns // a token's subject at its max_conns
	numRejects
)

var rejectNames = [numRejects]string{"max_connections", "per_ip", "draining", "max_conns"}

// metrics are the server's series. Those counted per connection, and the
// frames and bytes whose unit differs by transport (a WebSocket frame's
// payload, an event), carry a transport label ("ws", "sse"); their
// children are indexed by transportKind.
type metrics struct {
	messages         prometheus.Counter
	frames           [numTransports]prometheus.Counter
	bytes            [numTransports]prometheus.Counter
	frameMsgs        prometheus.Histogram
	latency          prometheus.Histogram
	rejected         [numTransports][numRejects]prometheus.Counter
	rejectedAtAccept prometheus.Counter // per_ip, refused as accepted (perip.go)
	errors           map[string]prometheus.Counter
	disconnects      [numTransports][numReasons]prometheus.Counter
	authFailures     map[string]prometheus.Counter
	delayedConns     prometheus.Gauge
}

// newMetrics builds the server's metrics and registers them with reg;
// conns are the open connections of each transport.
func newMetrics(reg prometheus.Registerer, conns *[numTransports]atomic.Int64) (*metrics, error) {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_client_errors_total",
		Help: "Error replies sent to clients, by error code.",
	}, []string{"code"})
	disc := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_disconnects_total",
		Help: "Sessions ended, by reason and transport.",
	}, []string{"reason", "transport"})
	frames := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_frames_sent_total",
		Help: "WebSocket frames (transport ws) and events (sse) written to clients.",
	}, []string{"transport"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_bytes_sent_total",
		Help: "Bytes written to clients: WebSocket frame payloads (transport ws), whole events (sse).",
	}, []string{"transport"})
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_messages_sent_total",
			Help: "Live ticks written to client sockets (snapshots and replies not counted).",
		}),
		frameMsgs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tickgate_frame_messages",
			Help:    "Messages batched per frame.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7), // 1 .. 4096
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:                            "tickgate_delivery_latency_seconds",
			Help:                            "Feed timestamp to frame written to the socket, per tick.",
			Buckets:                         latencyBuckets,
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}),
		errors:       make(map[string]prometheus.Counter, len(errorCodes)),
		authFailures: make(map[string]prometheus.Counter, len(AuthReasons)),
		delayedConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tickgate_delayed_connections",
			Help: "Open connections whose grant is the delayed tier (tickgate_connections counts all).",
		}),
	}
	auth := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_auth_failures_total",
		Help: "Tokens refused, by reason (missing, malformed, expired, not_yet_valid, bad_signature, wrong_algorithm, bad_claims).",
	}, []string{"reason"})
	for _, r := range AuthReasons {
		m.authFailures[r] = auth.WithLabelValues(r)
	}
	for _, code := range errorCodes {
		m.errors[code] = errs.WithLabelValues(code)
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_connections_rejected_total",
		Help: "Connections refused before the upgrade or the stream, by reason: max_connections and draining (503), per_ip and max_conns (429); and transport (accept: refused as it was accepted, before its request was read).",
	}, []string{"reason", "transport"})
	m.rejectedAtAccept = rejected.WithLabelValues(rejectNames[rejectPerIP], "accept")
	collectors := []prometheus.Collector{m.messages, frames, bytes, m.frameMsgs, m.latency, rejected, errs, disc, auth, m.delayedConns}
	for k := range numTransports {
		tr := k.String()
		m.frames[k], m.bytes[k] = frames.WithLabelValues(tr), bytes.WithLabelValues(tr)
		for r := range numRejects {
			m.rejected[k][r] = rejected.WithLabelValues(rejectNames[r], tr)
		}
		for r := range numReasons {
			m.disconnects[k][r] = disc.WithLabelValues(r.String(), tr)
		}
		open := &conns[k]
		collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "tickgate_connections",
			Help:        "Open connections, by transport: WebSocket (ws) and event stream (sse).",
			ConstLabels: prometheus.Labels{"transport": tr},
		}, func() float64 { return float64(open.Load()) }))
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// frameWritten records one frame (or event) of transport k: its size, and
// the delivery latency of each live tick in it (replies and snapshots
// carry no timestamp).
func (m *metrics) frameWritten(k transportKind, batch []fanout.Message, n int, now int64) {
	ticks := 0
	for _, msg := range batch {
		if msg.TS > 0 {
			ticks++
			m.latency.Observe(float64(now-msg.TS) / 1e9)
		}
	}
	m.messages.Add(float64(ticks))
	m.frames[k].Inc()
	m.bytes[k].Add(float64(n))
	m.frameMsgs.Observe(float64(len(batch)))
}
