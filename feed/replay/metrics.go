package replay

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Source's Prometheus collectors, beside its
// feed.Refusals.
type metrics struct {
	loops prometheus.Counter
}

// newMetrics builds the Source's collectors and registers them with reg.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		loops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tickgate_feed_replay_loops_total",
			Help: "Times the replay feed finished playing its file.",
		}),
	}
	if err := reg.Register(m.loops); err != nil {
		return nil, fmt.Errorf("replay: register metrics: %w", err)
	}
	return m, nil
}
