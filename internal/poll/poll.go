package poll

import (
	"testing"
	"time"
)

// Interval is how often Until calls its condition.
const Interval = 5 * time.Millisecond

// Until calls f every Interval until it returns nil, and fails tb with f's
// last error if timeout passes first.
func Until(tb testing.TB, timeout time.Duration, f func() error) {
	tb.Helper()
	Every(tb, timeout, Interval, f)
}

// Every is Until calling f every interval, for a condition that is costly
// to check (a query to another process).
func Every(tb testing.TB, timeout, interval time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %v: %v", timeout, err)
		}
		time.Sleep(interval)
	}
}

// Holds is Until's converse: it calls f every interval for total and fails
// tb as soon as f returns an error.
func Holds(tb testing.TB, total, interval time.Duration, f func() error) {
	tb.Helper()
	for end := time.Now().Add(total); ; time.Sleep(interval) {
		if err := f(); err != nil {
			tb.Fatal(err)
		}
		if time.Now().After(end) {
			return
		}
	}
}
