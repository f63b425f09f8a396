package fanout

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus series. Children are resolved once,
// here, so the tick path only adds to counters it already holds.
type metrics struct {
	feedTicks         prometheus.Counter
	droppedTicks      [numRefusals]prometheus.Counter // [listed] and delisting reasons are nil
	droppedListings   [numRefusals]prometheus.Counter // [listed] is nil
	listed            prometheus.Counter
	retired           [numRetireReasons]prometheus.Counter
	staleTicks        prometheus.Counter
	epochConflicts    prometheus.Counter
	invalidEpochs     prometheus.Counter
	enqueued          prometheus.Counter
	slowConsumers     prometheus.Counter
	conflatedRate     prometheus.Counter
	conflatedDegraded prometheus.Counter
	conflatedDelay    prometheus.Counter
	recovered         prometheus.Counter
	fallbacks         prometheus.Counter
	batchTicks        prometheus.Histogram
	bars, lateTicks   [numStreams]prometheus.Counter // [Ticks] is nil
}

func newMetrics(reg prometheus.Registerer, e *Engine) (*metrics, error) {
	dropped := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_feed_dropped_ticks_total",
		Help: "Ticks from the feed that were not fanned out, by reason.",
	}, []string{"reason"})
	conflated := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_conflated_ticks_total",
		Help: "Ticks merged into a later tick of the same symbol: once per (symbol, rate class) for max_rate, once per client for degraded, once per symbol for delay_line (the delayed tier's bound).",
	}, []string{"why"})
	m := &metrics{
		feedTicks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_ticks_total",
			Help: "Ticks received from the feed by the fan-out shards.",
		}),
		staleTicks:     dropped.WithLabelValues("stale_seq"),
		epochConflicts: dropped.WithLabelValues("epoch_conflict"),
		invalidEpochs:  dropped.WithLabelValues("invalid_epoch"),
		enqueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_fanout_enqueued_total",
			Help: "Tick and bar messages queued for clients (one per subscriber per message sent).",
		}),
		slowConsumers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_slow_consumers_total",
			Help: "Clients dropped because their queue overflowed.",
		}),
		conflatedRate:     conflated.WithLabelValues("max_rate"),
		conflatedDegraded: conflated.WithLabelValues("degraded"),
		conflatedDelay:    conflated.WithLabelValues("delay_line"),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_recovered_ticks_total",
			Help: "Ticks a resubscribing client recovered from history (since).",
		}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_recovery_fallbacks_total",
			Help: "Symbols whose recovery point had left the history, answered with a snapshot instead.",
		}),
		batchTicks: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tickgate_shard_batch_ticks",
			Help:    "Ticks a shard delivered per lock hold.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 5), // 1 .. 256 = maxBatch
		}),
	}
	universe := m.universeMetrics(e, dropped)
	bars := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_bars_total",
		Help: "Final bars published, by stream, realtime and delayed tier together.",
	}, []string{"stream"})
	late := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_bar_late_ticks_total",
		Help: "Ticks that came after their bar was final (later bucket seen, or past bars.grace), not applied to it, by stream.",
	}, []string{"stream"})
	for _, st := range Streams()[1:] {
		m.bars[st] = bars.WithLabelValues(st.String())
		m.lateTicks[st] = late.WithLabelValues(st.String())
	}
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_subscriptions",
			Help: "Current (client, stream, symbol) subscriptions.",
		}, func() float64 { return float64(e.Subscriptions()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_degraded_clients",
			Help: "Clients whose queue is conflating (latest tick per symbol) because they fell behind.",
		}, func() float64 { return float64(e.degraded.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_delay_line_ticks",
			Help: "Ticks held in the delay line for the delayed tier.",
		}, func() float64 { n, _ := e.delayHeld(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_delay_line_bytes",
			Help: "Bytes the delay line holds (bounded by entitlements.delay_max_bytes).",
		}, func() float64 { _, b := e.delayHeld(); return float64(b) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_shard_inbox_ticks",
			Help: "Ticks waiting in the shard inboxes.",
		}, func() float64 {
			n := 0
			for _, s := range e.shards {
				n += len(s.in)
			}
			return float64(n)
		}),
	}
	cs := []prometheus.Collector{m.feedTicks, dropped, conflated, m.enqueued, m.slowConsumers, m.recovered, m.fallbacks, m.batchTicks, bars, late}
	for _, c := range append(append(cs, gauges...), universe...) {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// universeMetrics makes the series of the universe (universe.go,
// retire.go): the ticks and listings it refused, the symbols listed,
// listed so far and retired. It returns the collectors to register, less
// dropped, which the caller registers.
func (m *metrics) universeMetrics(e *Engine, dropped *prometheus.CounterVec) []prometheus.Collector {
	droppedListings := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_feed_dropped_listings_total",
		Help: "Listings and delistings from the feed that were not applied, by reason.",
	}, []string{"reason"})
	retired := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_universe_retired_total",
		Help: "Symbols retired, by reason: delisted by the feed, or idle for universe.retire_after.",
	}, []string{"reason"})
	for r := refusedPattern; r < numRefusals; r++ {
		m.droppedListings[r] = droppedListings.WithLabelValues(r.String())
		if r <= refusedMax {
			m.droppedTicks[r] = dropped.WithLabelValues(r.String())
		}
	}
	for r := range retireReason(numRetireReasons) {
		m.retired[r] = retired.WithLabelValues(r.String())
	}
	m.listed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tickgate_universe_listed_total",
		Help: "Symbols listed: at start, then by the feed's listings and first ticks.",
	})
	return []prometheus.Collector{droppedListings, retired, m.listed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_universe_symbols",
			Help: "Symbols listed now (at most universe.max_symbols).",
		}, func() float64 { return float64(e.u.live.Load()) }),
	}
}

// batch publishes one shard batch's counts: ticks delivered (0 for a rate
// class flush), stale ticks and ticks of an invalid epoch dropped, and
// what the enqueues did (epoch conflicts among them).
func (m *metrics) batch(ticks, stale, invalid int, t *tally) {
	if ticks > 0 {
		m.feedTicks.Add(float64(ticks))
		m.batchTicks.Observe(float64(ticks))
	}
	if stale > 0 {
		m.staleTicks.Add(float64(stale))
	}
	if invalid > 0 {
		m.invalidEpochs.Add(float64(invalid))
	}
	if t.conflicts > 0 {
		m.epochConflicts.Add(float64(t.conflicts))
	}
	m.sent(t)
}

// subscribed publishes the counts of one Subscribe.
func (m *metrics) subscribed(t *tally) {
	if t.recovered > 0 {
		m.recovered.Add(float64(t.recovered))
	}
	if t.fallbacks > 0 {
		m.fallbacks.Add(float64(t.fallbacks))
	}
	m.sent(t)
}

func (m *metrics) sent(t *tally) {
	add := func(c prometheus.Counter, n int) {
		if n > 0 {
			c.Add(float64(n))
		}
	}
	add(m.enqueued, t.enqueued)
	add(m.slowConsumers, t.slow)
	add(m.conflatedRate, t.rateConflated)
	add(m.conflatedDegraded, t.merged)
	add(m.conflatedDelay, t.delayConflated)
	for st := Bars1s; st < numStreams; st++ {
		add(m.bars[st], t.bars[st])
		add(m.lateTicks[st], t.lateTicks[st])
	}
	for r := refusedPattern; r <= refusedMax; r++ {
		add(m.droppedTicks[r], t.refusedTicks[r])
		add(m.droppedListings[r], t.refusedListings[r])
	}
	for r := range retireReason(numRetireReasons) {
		add(m.retired[r], t.retired[r])
	}
}
