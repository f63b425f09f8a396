package subscribe

import "time"

// lag is the staleness rule of one session, kept by its running writer
// (writer.go). A client is behind when what it has queued, and what its
// socket holds that it has not acknowledged, would take longer than
// Config.MaxStaleness to reach it at the rate its link has been draining:
// then its queue conflates (fanout.Client.Conflate), so that it holds the
// latest tick per symbol instead of a backlog of old ones. It goes live
// again (fanout.Client.Live) only once it has kept up for keptUpFor: no
// write found its socket full for that long since it was conflated, so the
// notices cannot flip back and forth while the link is saturated.
//
// The rule is judged where the writer waits for the socket (its paced
// run), never on a frame that goes out at once: the fast path pays only
// an atomic load a frame, for the live check of a conflating client.
type lag struct {
	maxStale time.Duration

	// The drain rate, in bytes a second: acknowledged bytes over time,
	// sampled each paced frame, smoothed over samples at least
	// minSample apart. 0 until the first such sample.
	rate  float64
	at    time.Time     // the last sample, zero at the start of a paced run
	acked int64         // bytes the peer had acknowledged then
	run   time.Duration // sampled so far in this paced run

	// since is when this writer saw the queue conflating, zero while it
	// has not.
	since time.Time
}

const (
	// minSample is the shortest interval the drain rate is measured over:
	// shorter ones see a handful of acknowledgements.
	minSample = 100 * time.Millisecond
	// rateWindow is how fast the smoothed rate follows a new sample: a
	// sample dt long moves it dt/rateWindow of the way.
	rateWindow = time.Second
	// liveAfterStale is keptUpFor in units of MaxStaleness.
	liveAfterStale = 10
)

// sample notes that the peer had acknowledged acked bytes at now, and
// whether the socket was found full since the last sample (busy). Only a
// busy interval measures the link: in another the writer had less to send
// than the link takes, so that sample may raise the rate but not lower it.
func (l *lag) sample(now time.Time, acked int64, busy bool) {
	if l.at.IsZero() {
		l.at, l.acked, l.run = now, acked, 0
		return
	}
	dt := now.Sub(l.at)
	if dt < minSample {
		return
	}
	r := float64(acked-l.acked) / dt.Seconds()
	switch {
	case l.rate == 0:
		l.rate = r
	case busy:
		l.rate += (r - l.rate) * min(1, float64(dt)/float64(rateWindow))
	default:
		l.rate = max(l.rate, r)
	}
	l.at, l.acked, l.run = now, acked, l.run+dt
}

// behind reports whether backlog bytes (queued, and held by the socket
// unacknowledged) would take longer than maxStale to drain at the rate
// measured. It says nothing before this paced run has lasted maxStale: a
// burst that drains sooner made nothing that old, and a rate measured
// over less can be a moment's stall of the peer.
func (l *lag) behind(backlog int64) bool {
	return l.run >= l.maxStale && l.rate > 0 && float64(backlog) > l.rate*l.maxStale.Seconds()
}

// keptUp reports whether a conflating client has kept up for long enough
// to go live: since it was seen conflating, and since its socket was last
// found full (lastBlock, Unix ns), at least keptUpFor has passed. The
// first call for a queue that conflated without this writer's judgement
// (fanout's memory bound) sees it conflating: it sets since and reports
// false.
func (l *lag) keptUp(now time.Time, lastBlock int64) bool {
	if l.since.IsZero() {
		l.since = now
		return false
	}
	calm := l.since
	if b := time.Unix(0, lastBlock); b.After(calm) {
		calm = b
	}
	return now.Sub(calm) >= l.keptUpFor()
}

// keptUpFor is how long a conflating client must keep up to go live.
func (l *lag) keptUpFor() time.Duration { return liveAfterStale * l.maxStale }
