package subscribe

import (
	"testing"
	"time"
)

// TestLagRate: the drain rate is measured over busy intervals of at least
// minSample; an interval in which the socket never filled may raise it but
// not lower it, and no client is behind before its paced run has lasted
// max_staleness.
func TestLagRate(t *testing.T) {
	t.Parallel()
	l := &lag{maxStale: time.Second}
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	l.sample(at(0), 0, true)
	if l.behind(1 << 30) {
		t.Fatal("behind with no rate measured")
	}
	l.sample(at(50), 5000, true) // too short to measure
	if l.rate != 0 {
		t.Fatalf("rate %v after 50 ms", l.rate)
	}
	l.sample(at(900), 56250, true) // 500 kbit/s
	if l.rate != 62500 || l.behind(1<<30) {
		t.Fatalf("rate %v, behind %v after 900 ms; want 62500, not yet judged", l.rate, l.behind(1<<30))
	}
	l.sample(at(1000), 62500, true)
	l.sample(at(2000), 62500+10000, false) // the writer had little to send
	if l.rate != 62500 {
		t.Fatalf("an idle interval lowered the rate to %v", l.rate)
	}
	l.sample(at(2500), 72500+100000, false) // more than measured: the link is faster
	if l.rate != 200000 {
		t.Fatalf("rate %v, want 200000 from a faster idle interval", l.rate)
	}
	l.sample(at(3000), 172500+25000, true) // busy at 50 KB/s: half way there in 0.5 s
	if want := 200000 + (50000.0-200000)/2; l.rate != want {
		t.Fatalf("rate %v, want %v", l.rate, want)
	}
	if l.behind(int64(l.rate)) || !l.behind(int64(l.rate)+1) {
		t.Fatalf("behind at %v bytes/s: wrong side of max_staleness's worth", l.rate)
	}
}

// TestLagKeptUp: a conflating client goes live only after keptUpFor
// with no socket found full, counted from when it was seen conflating.
func TestLagKeptUp(t *testing.T) {
	t.Parallel()
	l := &lag{maxStale: 100 * time.Millisecond} // keptUpFor 1 s
	t0 := time.Unix(1000, 0)
	if l.keptUp(t0, 0) {
		t.Fatal("kept up on first sight")
	}
	if l.keptUp(t0.Add(999*time.Millisecond), 0) {
		t.Fatal("kept up before keptUpFor")
	}
	block := t0.Add(500 * time.Millisecond).UnixNano()
	if l.keptUp(t0.Add(1200*time.Millisecond), block) {
		t.Fatal("kept up 700 ms after the socket was last full")
	}
	if !l.keptUp(t0.Add(1500*time.Millisecond), block) {
		t.Fatal("not kept up keptUpFor after the socket was last full")
	}
}
