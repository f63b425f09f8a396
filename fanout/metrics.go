package fanout

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// metrics are the engine's Prometheus series. Children are resolved once,
// here, so the tick path only adds to counters it already holds.
type metrics struct {
	feedTicks prometheus.Counter
	// refused counts, by kind and refusal, the messages from the feed the
	// universe refused; [k][listed] is nil, and so are the listing
	// refusals of the other kinds (lastRefusal).
	refused           [numFedKinds][numRefusals]prometheus.Counter
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
	bars, lateTicks   [barStreams]prometheus.Counter // [Ticks] is nil
	// evicted and evictedBytes count, by kind, the records the memory
	// budget released and their bytes; [keptDelay] is nil (the line
	// merges, counted in conflatedDelay).
	evicted, evictedBytes [numKinds]prometheus.Counter

	feedDepth    [numDepthKinds]prometheus.Counter                // books, statuses taken from the feed
	droppedDepth [numDepthKinds][numDepthDrops]prometheus.Counter // by reason; [depthStatus] has no book reasons
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
	bars := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_bars_total",
		Help: "Final bars published, by stream, realtime and delayed tier together.",
	}, []string{"stream"})
	late := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_bar_late_ticks_total",
		Help: "Ticks that came after their bar was final (later bucket seen, or past bars.grace), not applied to it, by stream.",
	}, []string{"stream"})
	for st := Bars1s; st < barStreams; st++ {
		m.bars[st] = bars.WithLabelValues(st.String())
		m.lateTicks[st] = late.WithLabelValues(st.String())
	}
	memory := m.memory(e)
	depthCollectors, depthDropped := m.depthMetrics()
	universe := m.universeMetrics(e, [numFedKinds]*prometheus.CounterVec{feed.KindTick: dropped, feed.KindBook: depthDropped[depthBook], feed.KindStatus: depthDropped[depthStatus]})
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
			Help: "Bytes the delay line's slots take, held or free (bounded by entitlements.delay_max_bytes and within fanout.memory_budget).",
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
	collectors := []prometheus.Collector{m.feedTicks, dropped, conflated, m.enqueued, m.slowConsumers, m.recovered, m.fallbacks, m.batchTicks, bars, late}
	collectors = append(append(append(append(collectors, gauges...), memory...), depthCollectors...), universe...)
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// universeMetrics makes the series of the universe (universe.go,
// retire.go): the messages it refused, by kind (dropped, indexed by
// feed.Kind, are the dropped counters of ticks, books and statuses, made by
// the caller; the listings' is made here), the symbols listed, listed so
// far and retired. It returns the collectors to register, less those the
// caller made.
func (m *metrics) universeMetrics(e *Engine, dropped [numFedKinds]*prometheus.CounterVec) []prometheus.Collector {
	dropped[feed.KindListing] = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_feed_dropped_listings_total",
		Help: "Listings and delistings from the feed that were not applied, by reason.",
	}, []string{"reason"})
	retired := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_universe_retired_total",
		Help: "Symbols retired, by reason: delisted by the feed, or idle for universe.retire_after.",
	}, []string{"reason"})
	for k := range numFedKinds {
		for r := refusedPattern; r <= lastRefusal(k); r++ {
			m.refused[k][r] = dropped[k].WithLabelValues(r.String())
		}
	}
	for r := range retireReason(numRetireReasons) {
		m.retired[r] = retired.WithLabelValues(r.String())
	}
	m.listed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tickgate_universe_listed_total",
		Help: "Symbols listed: at start, then by the feed's listings and first messages.",
	})
	return []prometheus.Collector{dropped[feed.KindListing], retired, m.listed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_universe_symbols",
			Help: "Symbols listed now (at most universe.max_symbols).",
		}, func() float64 { return float64(e.u.live.Load()) }),
	}
}

// memory makes the memory budget's series: the budget, the bytes kept by
// kind, and what the budget released. It resolves m.evicted and
// m.evictedBytes and returns the collectors to register.
func (m *metrics) memory(e *Engine) []prometheus.Collector {
	evicted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_memory_evicted_messages_total",
		Help: "Kept messages (history records) the memory budget released to make room for a more recently subscribed topic or the delay line, by kind.",
	}, []string{"kind"})
	evictedBytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tickgate_memory_evicted_bytes_total",
		Help: "Bytes of history the memory budget released, by kind.",
	}, []string{"kind"})
	out := []prometheus.Collector{evicted, evictedBytes,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_memory_budget_bytes",
			Help: "The memory budget (fanout.memory_budget): the most bytes of the listed symbols' state, their snapshots and histories, and the delay line together.",
		}, func() float64 { return float64(e.cfg.MemoryBudget) }),
	}
	for _, k := range [...]keptKind{keptTicks, keptBars, keptBooks} {
		m.evicted[k] = evicted.WithLabelValues(k.String())
		m.evictedBytes[k] = evictedBytes.WithLabelValues(k.String())
	}
	return append(out, keptCollector{e})
}

// keptCollector reports tickgate_memory_kept_bytes, each shard's kinds
// read together (budget.published), so the series of one scrape add up
// to what the shards kept: never more than the budget but by the floor
// (budget.go).
type keptCollector struct{ e *Engine }

var keptDesc = prometheus.NewDesc("tickgate_memory_kept_bytes",
	"Bytes under the memory budget, by kind: ticks, bars and books (snapshots and histories), delay_line (the delayed tier's held messages), symbols (each listed symbol's own state).",
	[]string{"kind"}, nil)

func (keptCollector) Describe(ch chan<- *prometheus.Desc) { ch <- keptDesc }

func (c keptCollector) Collect(ch chan<- prometheus.Metric) {
	kept := c.e.kept()
	for k, n := range kept {
		ch <- prometheus.MustNewConstMetric(keptDesc, prometheus.GaugeValue, float64(n), keptKind(k).String())
	}
}

// kept is the bytes the shards kept at their last batch, by kind.
func (e *Engine) kept() (total [numKinds]int64) {
	for _, s := range e.shards {
		for k, n := range s.budget.published() {
			total[k] += n
		}
	}
	return total
}

// batch publishes one shard batch's counts: messages from the feed
// delivered (0 for a rate class flush), ticks and depth apart, stale
// ticks and ticks of an invalid epoch dropped, and
// what the enqueues did (epoch conflicts among them).
func (m *metrics) batch(msgs, stale, invalid int, t *tally) {
	if msgs > 0 {
		m.batchTicks.Observe(float64(msgs))
	}
	if ticks := msgs - t.depth[depthBook] - t.depth[depthStatus]; ticks > 0 {
		m.feedTicks.Add(float64(ticks))
	}
	m.depthBatch(t)
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
	for st := Bars1s; st < barStreams; st++ {
		add(m.bars[st], t.bars[st])
		add(m.lateTicks[st], t.lateTicks[st])
	}
	for _, k := range [...]keptKind{keptTicks, keptBars, keptBooks} {
		add(m.evicted[k], int(t.evicted[k]))
		add(m.evictedBytes[k], int(t.evictedBytes[k]))
	}
	for k := range numFedKinds {
		for r := refusedPattern; r <= lastRefusal(k); r++ {
			add(m.refused[k][r], t.refused[k][r])
		}
	}
	for r := range retireReason(numRetireReasons) {
		add(m.retired[r], t.retired[r])
	}
}

// depthMetrics makes the series of books and statuses from the feed and
// returns their collectors: taken, and dropped by reason (the depthDrop
// reasons, a status has no book reasons; the universe's refusals,
// universeMetrics, on the same dropped counters, returned apart).
func (m *metrics) depthMetrics() (out []prometheus.Collector, dropped [numDepthKinds]*prometheus.CounterVec) {
	for k := range numDepthKinds {
		names := depthMetricNames[k]
		taken := prometheus.NewCounter(prometheus.CounterOpts{
			Name: names[0],
			Help: "Book messages (books) or status changes (statuses) received from the feed by the fan-out shards.",
		})
		dropped[k] = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: names[1],
			Help: "Book messages (books) or status changes (statuses) from the feed that were not fanned out, by reason: outside_pattern and max_symbols (the universe refused the symbol), stale_seq, epoch_conflict, invalid_epoch, and for books no_snapshot, crossed and beyond_depth.",
		}, []string{"reason"})
		m.feedDepth[k] = taken
		for why := range numDepthDrops {
			if k == depthStatus && why > dropInvalidEpoch {
				continue
			}
			m.droppedDepth[k][why] = dropped[k].WithLabelValues(why.String())
		}
		out = append(out, taken, dropped[k])
	}
	return out, dropped
}

// depthBatch publishes a batch's counts of books and statuses.
func (m *metrics) depthBatch(t *tally) {
	for k := range numDepthKinds {
		if t.depth[k] > 0 {
			m.feedDepth[k].Add(float64(t.depth[k]))
		}
		for why, n := range t.depthDrops[k] {
			if n > 0 {
				m.droppedDepth[k][why].Add(float64(n))
			}
		}
	}
}
