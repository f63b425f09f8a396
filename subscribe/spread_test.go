package subscribe

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// TestCloseSpreadKeepsSchedule runs closeSpread on a fake clock where each
// close takes 1 ms, as closing a real session does on a busy machine. Close
// i must still go out at i/n of the spread: a schedule that steps from the
// previous close adds up those costs, 500 ms over 500 closes, and ends past
// the window.
func TestCloseSpreadKeepsSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, spread, cost = 500, 4500 * time.Millisecond, time.Millisecond
		start := time.Now()
		var at []time.Duration
		err := closeSpread(context.Background(), n, spread, func(int) {
			at = append(at, time.Since(start))
			time.Sleep(cost)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(at) != n {
			t.Fatalf("%d closes, want %d", len(at), n)
		}
		for i, got := range at {
			if want := spread * time.Duration(i) / n; got != want {
				t.Fatalf("close %d at %v, want %v (i/n of the spread)", i, got, want)
			}
		}
	})
}

// TestCloseSpreadCatchesUp checks closes that fall behind (each costs more
// than a step) go out back to back rather than pushing the rest later.
func TestCloseSpreadCatchesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n, spread = 10, 100 * time.Millisecond // 10 ms steps
		start := time.Now()
		var last time.Duration
		closeSpread(context.Background(), n, spread, func(i int) {
			last = time.Since(start)
			if i == 0 {
				time.Sleep(50 * time.Millisecond) // a stall, five steps long
			}
		})
		if want := spread * (n - 1) / n; last != want {
			t.Errorf("last close at %v, want %v: the stall must not delay it", last, want)
		}
	})
}

func TestCloseSpreadStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Millisecond)
		defer cancel()
		closed := 0
		err := closeSpread(ctx, 10, time.Second, func(int) { closed++ })
		if err != context.DeadlineExceeded || closed != 1 {
			t.Errorf("closeSpread = %v after %d closes, want DeadlineExceeded after 1 (due at 0, then every 100ms)", err, closed)
		}
	})
}

func TestHandshakeReserve(t *testing.T) {
	for window, want := range map[time.Duration]time.Duration{
		0: 0, 100 * time.Millisecond: 10 * time.Millisecond, 5 * time.Second: 500 * time.Millisecond, time.Minute: time.Second,
	} {
		if got := handshakeReserve(window); got != want {
			t.Errorf("handshakeReserve(%v) = %v, want %v", window, got, want)
		}
	}
}
