package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// find-max search bounds.
const (
	findMaxStart     = 2000 // ticks/s when -rate is not given
	findMaxFactor    = 1.5
	findMaxSteps     = 25
	findMaxP99Ms     = 50
	findMaxRateCap   = 1e7  // the sim feed's own limit
	findMaxFeedShare = 0.95 // below this share of the asked rate the server held the feed back
)

// step is one rate tried by -find-max.
type step struct {
	Rate             float64 `json:"rate"`
	Pass             bool    `json:"pass"`
	Reason           string  `json:"reason,omitempty"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	LatencyP99Ms     float64 `json:"latency_p99_ms"`
	Gaps             uint64  `json:"gaps"`
}

// FindMaxResult is what -find-max reports and -out writes. MaxRate is 0 if
// no step passed.
type FindMaxResult struct {
	Workload            string  `json:"workload"`
	Target              string  `json:"target"`
	Clients             int     `json:"clients_requested"`
	MaxRate             float64 `json:"max_rate"`
	MaxDeliveriesPerSec float64 `json:"max_deliveries_per_sec"`
	Steps               []step  `json:"steps"`
	Best                *Result `json:"best"`
	GoVersion           string  `json:"go_version"`
	NProc               int     `json:"nproc"`
	Timestamp           string  `json:"timestamp"`
}

// findMax multiplies the feed rate by findMaxFactor until a step fails
// (dividing instead if the first one fails), then bisects between the last
// pass and the first fail -refine times. Each step is a fresh
// spawned server measured for -duration.
func findMax(ctx context.Context, o *options, bins *binCache, stdout, stderr io.Writer) (*FindMaxResult, error) {
	fm := &FindMaxResult{Workload: o.workload, Target: o.target, Clients: o.clients,
		GoVersion: runtime.Version(), NProc: runtime.NumCPU(), Timestamp: time.Now().UTC().Format(time.RFC3339)}
	rate := o.rate
	if rate == 0 {
		rate = findMaxStart
	}
	var pass, fail float64
	for bisections := 0; len(fm.Steps) < findMaxSteps; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		st, res, err := runStep(ctx, o, bins, rate, stderr)
		if err != nil {
			return nil, err
		}
		fm.Steps = append(fm.Steps, st)
		fmt.Fprintf(stdout, "rate %10.1f  pass %-5v  deliveries/s %12.0f  p99 %8.2f ms  gaps %d %s\n",
			st.Rate, st.Pass, st.DeliveriesPerSec, st.LatencyP99Ms, st.Gaps, st.Reason)
		if st.Pass {
			pass, fm.Best = rate, res
		} else {
			fail = rate
		}
		switch {
		case fail == 0 && rate*findMaxFactor <= findMaxRateCap:
			rate *= findMaxFactor
		case pass == 0 && rate/findMaxFactor >= 1:
			rate /= findMaxFactor
		case pass > 0 && fail > 0 && bisections < o.refine:
			bisections++
			rate = (pass + fail) / 2
		default:
			return fm.finish(pass, stdout), nil
		}
	}
	return fm.finish(pass, stdout), nil
}

func (fm *FindMaxResult) finish(pass float64, stdout io.Writer) *FindMaxResult {
	fm.MaxRate = pass
	if fm.Best != nil {
		fm.MaxDeliveriesPerSec = fm.Best.DeliveriesPerSec
		fmt.Fprintf(stdout, "\nmax passing rate %.1f ticks/s: %.0f deliveries/s\n\n", pass, fm.MaxDeliveriesPerSec)
		fm.Best.printTable(stdout)
	} else {
		fmt.Fprintln(stdout, "\nno rate passed")
	}
	return fm
}

// runStep measures one rate and judges it.
func runStep(ctx context.Context, o *options, bins *binCache, rate float64, stderr io.Writer) (step, *Result, error) {
	so := *o
	so.rate = rate
	res, err := runOnce(ctx, &so, bins, stderr)
	if err != nil {
		return step{}, nil, err
	}
	reasons := verdict(res)
	return step{
		Rate: rate, Pass: len(reasons) == 0, Reason: strings.Join(reasons, ", "),
		DeliveriesPerSec: res.DeliveriesPerSec, LatencyP99Ms: res.LatencyP99Ms, Gaps: res.Gaps,
	}, res, nil
}

// verdict lists why a step fails: not every client connected, nothing
// delivered, a seq gap, a reading client dropped as slow (4001 or the
// server's slow-consumer count, which only counts when no client is slow
// on purpose), the feed held back by a server that cannot keep up, or p99
// over findMaxP99Ms.
func verdict(res *Result) []string {
	var why []string
	if res.Connections < res.ClientsRequested {
		why = append(why, fmt.Sprintf("%d connect errors", res.ClientsRequested-res.Connections))
	}
	if res.Deliveries == 0 {
		why = append(why, "no deliveries")
	}
	if res.Gaps > 0 {
		why = append(why, fmt.Sprintf("%d gaps", res.Gaps))
	}
	if n := res.Disconnects["4001"]; n > 0 {
		why = append(why, fmt.Sprintf("%d clients closed 4001", n))
	}
	if s := res.ServerSlowConsumers; s != nil && *s > 0 && res.SlowClients == 0 {
		why = append(why, fmt.Sprintf("%.0f slow consumers", *s))
	}
	if f := res.ServerFeedTicksPerSec; f != nil && heldBack(*f, res) {
		why = append(why, fmt.Sprintf("feed held back to %.1f ticks/s", *f))
	} else if f := res.HarnessFedPerSec; f != nil && heldBack(*f, res) {
		why = append(why, fmt.Sprintf("harness feed held back to %.1f ticks/s", *f))
	}
	if res.ProtocolErrors > 0 {
		why = append(why, fmt.Sprintf("%d protocol errors", res.ProtocolErrors))
	}
	if res.LatencyP99Ms > findMaxP99Ms {
		why = append(why, fmt.Sprintf("p99 %.1f ms > %d ms", res.LatencyP99Ms, findMaxP99Ms))
	}
	return why
}

// heldBack reports whether a feed that ran at perSec in the window fell
// below findMaxFeedShare of the asked rate, with one tick of slack: at a
// few ticks/s, one tick more or less in the window is not a verdict.
func heldBack(perSec float64, res *Result) bool {
	return perSec*res.DurationS+1 < findMaxFeedShare*res.FeedRate*res.DurationS
}
