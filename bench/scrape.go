package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Series the harness reads from the server's /metrics.
const (
	mRSS       = "process_resident_memory_bytes"
	mCPU       = "process_cpu_seconds_total"
	mSlow      = "tickgate_slow_consumers_total"
	mSent      = "tickgate_messages_sent_total"
	mFeedTicks = "tickgate_feed_ticks_total"
	mLatency   = "tickgate_delivery_latency_seconds"
	mGoroutine = "go_goroutines"
	mFDs       = "process_open_fds"
	mHeapInuse = "go_memstats_heap_inuse_bytes"
	mStacks    = "go_memstats_stack_inuse_bytes"
)

// serverStats is one scrape of the figures the harness reports. ok is
// false if the scrape failed; the zero values then mean "unknown".
type serverStats struct {
	ok                          bool
	procOK                      bool // cpu, rss and fds came from /proc (a spawned server)
	at                          time.Time
	rss, cpu, slow, sent, ticks float64
	goroutines, fds             float64        // goroutines is 0 unless the server exports go_goroutines
	heap, stacks                float64        // Go heap spans and goroutine stacks in use; 0 unless exported
	hasTicks                    bool           // the server exports mFeedTicks (the baseline does not)
	hasSent                     bool           // the server exports mSent (tickgate and the baseline)
	latency                     *dto.Histogram // nil if the server has none
}

// cpuOK reports whether cpu and rss are known, from /metrics or /proc.
func (st serverStats) cpuOK() bool { return st.ok || st.procOK }

// scrape GETs url and extracts the serverStats series.
func scrape(ctx context.Context, hc *http.Client, url string) (serverStats, error) {
	st := serverStats{at: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return st, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return st, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("scrape: %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return st, fmt.Errorf("scrape: parse %s: %w", url, err)
	}
	st.ok = true
	st.rss = sumValues(mfs[mRSS])
	st.cpu = sumValues(mfs[mCPU])
	st.slow = sumValues(mfs[mSlow])
	st.sent, st.hasSent = sumValues(mfs[mSent]), mfs[mSent] != nil
	st.goroutines = sumValues(mfs[mGoroutine])
	st.fds = sumValues(mfs[mFDs])
	st.heap, st.stacks = sumValues(mfs[mHeapInuse]), sumValues(mfs[mStacks])
	st.ticks, st.hasTicks = sumValues(mfs[mFeedTicks]), mfs[mFeedTicks] != nil
	if mf := mfs[mLatency]; mf != nil && len(mf.GetMetric()) > 0 {
		st.latency = mf.GetMetric()[0].GetHistogram()
	}
	return st, nil
}

// sumValues adds the values of every series in mf (counter, gauge or
// untyped); 0 if mf is nil.
func sumValues(mf *dto.MetricFamily) float64 {
	var v float64
	for _, m := range mf.GetMetric() {
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		case m.Untyped != nil:
			v += m.GetUntyped().GetValue()
		}
	}
	return v
}

// bucketQuantile estimates quantile q (0..1) of the observations made
// between two scrapes of a classic histogram, interpolating linearly inside
// a bucket as PromQL's histogram_quantile does. It returns NaN without data;
// a rank in the +Inf bucket yields the highest finite bound.
func bucketQuantile(before, after *dto.Histogram, q float64) float64 {
	if after == nil {
		return math.NaN()
	}
	prev := map[float64]uint64{}
	for _, b := range before.GetBucket() {
		prev[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	total := float64(after.GetSampleCount() - before.GetSampleCount())
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	var lower, lowerCount float64
	for _, b := range after.GetBucket() {
		upper := b.GetUpperBound()
		count := float64(b.GetCumulativeCount() - prev[upper])
		if math.IsInf(upper, 1) {
			break
		}
		if count >= rank {
			if count == lowerCount {
				return upper
			}
			return lower + (upper-lower)*(rank-lowerCount)/(count-lowerCount)
		}
		lower, lowerCount = upper, count
	}
	return lower
}
