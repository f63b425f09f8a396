package ticktest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// Refused returns the value of source's decode-errors series of kind and
// reason in reg (feed.Refusals), failing tb if there is none.
func Refused(tb testing.TB, reg prometheus.Gatherer, source, kind, reason string) float64 {
	tb.Helper()
	var v float64
	found := false
	eachRefused(tb, reg, source, func(labels map[string]string, n float64) {
		if labels["kind"] == kind && labels["reason"] == reason {
			v, found = n, true
		}
	})
	if !found {
		tb.Fatalf("no series %s{source=%s,kind=%s,reason=%s}", feed.DecodeErrorsMetric, source, kind, reason)
	}
	return v
}

// RefusedTotal returns the sum of source's decode-errors series in reg.
func RefusedTotal(tb testing.TB, reg prometheus.Gatherer, source string) float64 {
	tb.Helper()
	var v float64
	eachRefused(tb, reg, source, func(_ map[string]string, n float64) { v += n })
	return v
}

// eachRefused calls f with the labels and value of each of source's
// decode-errors series in reg.
func eachRefused(tb testing.TB, reg prometheus.Gatherer, source string, f func(map[string]string, float64)) {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != feed.DecodeErrorsMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["source"] == source {
				f(labels, m.GetCounter().GetValue())
			}
		}
	}
}
