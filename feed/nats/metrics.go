package nats

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Source's Prometheus collectors, beside its
// feed.Refusals.
type metrics struct {
	connectErrors prometheus.Counter
	disconnects   prometheus.Counter
	reconnects    prometheus.Counter
	stalls        prometheus.Counter
}

// newMetrics builds the Source's collectors and registers them with reg.
// dropped reports the messages nats.go discarded because the subscription's
// pending channel was full (a client-side slow consumer); stalled whether
// the feed is stalled now.
func newMetrics(reg prometheus.Registerer, dropped func() float64, stalled func() bool) (*metrics, error) {
	m := &metrics{
		connectErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_nats_connect_errors_total",
			Help: "Failed attempts to connect or reconnect to a NATS server.",
		}),
		disconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_nats_disconnects_total",
			Help: "Times the NATS connection was lost.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_nats_reconnects_total",
			Help: "Times the NATS connection was re-established after a loss.",
		}),
		stalls: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_nats_stalls_total",
			Help: "Times the connected feed fell silent (no ticks or heartbeats) for feed.nats.stall_after.",
		}),
	}
	drops := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "tickgate_feed_nats_dropped_total",
		Help: "NATS messages dropped because the feed's pending buffer was full.",
	}, dropped)
	stalledNow := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tickgate_feed_nats_stalled",
		Help: "1 while the NATS feed is connected but silent past feed.nats.stall_after.",
	}, func() float64 {
		if stalled() {
			return 1
		}
		return 0
	})
	for _, c := range []prometheus.Collector{m.connectErrors, m.disconnects, m.reconnects, m.stalls, drops, stalledNow} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("nats: register metrics: %w", err)
		}
	}
	return m, nil
}

// newPublisherMetrics registers p's collectors with reg: counters read from
// its atomics when scraped, so Publish pays nothing for them.
func newPublisherMetrics(reg prometheus.Registerer, p *Publisher) error {
	counter := func(name, help string, v func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v()) })
	}
	cs := []prometheus.Collector{
		counter("tickgate_publish_published_total", "Feed messages (ticks, book messages, status) handed to NATS.", p.Published),
		counter("tickgate_publish_dropped_total", "Feed messages dropped because the NATS connection was down; gateways see them as a seq gap.", p.Dropped),
		counter("tickgate_publish_errors_total", "Feed messages that failed to publish for a reason other than a lost connection.", p.Errors),
		counter("tickgate_publish_ack_failures_total", "Feed messages published to the stream that it did not acknowledge as stored: refused, no stream for the subject, or no ack before the connection was lost.", p.AckFailures),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "tickgate_publish_acks_pending",
			Help: "Feed messages published to the stream whose ack has not come yet (at most publish.ack_window).",
		}, func() float64 { return float64(p.acksPending()) }),
	}
	if p.epoch != "" {
		info := prometheus.NewGauge(prometheus.GaugeOpts{
			Name:        "tickgate_publish_epoch_info",
			Help:        "1, labelled with the epoch of this publisher run: a change means gateways reset the symbols that did not carry on from the stream.",
			ConstLabels: prometheus.Labels{"epoch": p.epoch},
		})
		info.Set(1)
		cs = append(cs, info)
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("nats: register publisher metrics: %w", err)
		}
	}
	return nil
}
