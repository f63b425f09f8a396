// Package poll holds the tests' wait-for-a-condition helper, the way
// nats-server's checkFor does it: retry, never a bare sleep. Test code in
// every package uses it; it starts no goroutine.
package poll

import (
	"testing"
	"time"
)

// Until calls f every few milliseconds until it returns nil, and fails tb
// with f's last error if timeout passes first.
func Until(tb testing.TB, timeout time.Duration, f func() error) {
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
		time.Sleep(5 * time.Millisecond)
	}
}
