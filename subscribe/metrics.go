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

type metrics struct {
	messages     prometheus.Counter
	frames       prometheus.Counter
	bytes        prometheus.Counter
	frameMsgs    prometheus.Histogram
	latency      prometheus.Histogram
	rejected     [numRejects]prometheus.Counter
	errors       map[string]prometheus.Counter
	disconnects  [numReasons]prometheus.Counter
	authFailures map[string]prometheus.Counter
	delayedConns prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, conns *atomic.Int64) (*metrics, error) {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_client_errors_total",
		Help: "Error replies sent to clients, by error code.",
	}, []string{"code"})
	disc := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_disconnects_total",
		Help: "Sessions ended, by reason.",
	}, []string{"reason"})
	m := &metrics{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_messages_sent_total",
			Help: "Live ticks written to client sockets (snapshots and replies not counted).",
		}),
		frames: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_frames_sent_total",
			Help: "WebSocket frames written to clients.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_bytes_sent_total",
			Help: "WebSocket payload bytes written to clients.",
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
		Help: "Upgrades refused before the handshake, by reason: max_connections and draining (503), per_ip (429).",
	}, []string{"reason"})
	for r := range numRejects {
		m.rejected[r] = rejected.WithLabelValues(rejectNames[r])
	}
	for r := range numReasons {
		m.disconnects[r] = disc.WithLabelValues(r.String())
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tickgate_connections",
		Help: "Open WebSocket connections.",
	}, func() float64 { return float64(conns.Load()) })
	for _, c := range []prometheus.Collector{m.messages, m.frames, m.bytes, m.frameMsgs, m.latency, rejected, errs, disc, gauge, auth, m.delayedConns} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// frameWritten records one frame: its size, and the delivery latency of
// each live tick in it (replies and snapshots carry no timestamp).
func (m *metrics) frameWritten(batch []fanout.Message, n int, now int64) {
	ticks := 0
	for _, msg := range batch {
		if msg.TS > 0 {
			ticks++
			m.latency.Observe(float64(now-msg.TS) / 1e9)
		}
	}
	m.messages.Add(float64(ticks))
	m.frames.Inc()
	m.bytes.Add(float64(n))
	m.frameMsgs.Observe(float64(len(batch)))
}
