package replay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// metrics are the Source's Prometheus collectors.
type metrics struct {
	decodeErrors prometheus.Counter
	loops        prometheus.Counter
}

// newMetrics builds the Source's collectors and registers them with reg.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decodeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        feed.DecodeErrorsMetric,
			Help:        feed.DecodeErrorsHelp,
			ConstLabels: prometheus.Labels{"source": "replay"},
		}),
		loops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_replay_loops_total",
			Help: "Times the replay feed finished playing its file.",
		}),
	}
	for _, c := range []prometheus.Collector{m.decodeErrors, m.loops} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("replay: register metrics: %w", err)
		}
	}
	return m, nil
}
