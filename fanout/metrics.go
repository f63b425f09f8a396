package fanout

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus series. Children are resolved once,
// here, so the tick path only adds to counters it already holds.
type metrics struct {
	feedTicks     prometheus.Counter
	unknownTicks  prometheus.Counter
	staleTicks    prometheus.Counter
	enqueued      prometheus.Counter
	slowConsumers prometheus.Counter
	batchTicks    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, e *Engine) (*metrics, error) {
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_feed_dropped_ticks_total",
		Help: "Ticks from the feed that were not fanned out, by reason.",
	}, []string{"reason"})
	m := &metrics{
		feedTicks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_ticks_total",
			Help: "Ticks received from the feed by the fan-out shards.",
		}),
		unknownTicks: dropped.WithLabelValues("unknown_symbol"),
		staleTicks:   dropped.WithLabelValues("stale_seq"),
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_fanout_enqueued_total",
			Help: "Tick messages queued for clients (one per subscriber per tick).",
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_slow_consumers_total",
			Help: "Clients dropped because their queue overflowed.",
		}),
		batchTicks: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tickgate_shard_batch_ticks",
			Help:    "Ticks a shard delivered per lock hold.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 5), // 1 .. 256 = maxBatch
		}),
	}
	subs := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tickgate_subscriptions",
		Help: "Current (client, symbol) subscriptions.",
	}, func() float64 { return float64(e.Subscriptions()) })
	inbox := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tickgate_shard_inbox_ticks",
		Help: "Ticks waiting in the shard inboxes.",
	}, func() float64 {
		n := 0
		for _, s := range e.shards {
			n += len(s.in)
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{m.feedTicks, dropped, m.enqueued, m.slowConsumers, m.batchTicks, subs, inbox} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// batch publishes one delivered batch's counts.
func (m *metrics) batch(ticks, enqueued, slow, stale int) {
	m.feedTicks.Add(float64(ticks))
	m.batchTicks.Observe(float64(ticks))
	if enqueued > 0 {
		m.enqueued.Add(float64(enqueued))
	}
	if slow > 0 {
		m.slowConsumers.Add(float64(slow))
	}
	if stale > 0 {
		m.staleTicks.Add(float64(stale))
	}
}
