package runtest

import (
	"context"
	"sync"
	"testing"
	"time"
)

// StopTimeout bounds how long Stop waits for the function to return once
// its context is cancelled.
const StopTimeout = 10 * time.Second

// Task is a function running on its own goroutine until Stop cancels its
// context or the test ends.
type Task struct {
	tb     testing.TB
	name   string
	cancel context.CancelFunc
	exited chan struct{} // closed when the function has returned
	err    error         // what it returned; valid once exited is closed
	once   sync.Once
}

// Start runs fn on its own goroutine with a context that Stop cancels;
// name says what fn is in failure messages. The test's cleanup stops it.
func Start(tb testing.TB, name string, fn func(ctx context.Context) error) *Task {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t := &Task{tb: tb, name: name, cancel: cancel, exited: make(chan struct{})}
	go func() {
		defer close(t.exited)
		t.err = fn(ctx)
	}()
	tb.Cleanup(t.Stop)
	return t
}

// Stop cancels the function's context and fails the test unless it
// returns nil within StopTimeout. Calls after the first do nothing.
func (t *Task) Stop() {
	t.once.Do(func() {
		t.cancel()
		select {
		case <-t.exited:
			if t.err != nil {
				t.tb.Errorf("%s: %v", t.name, t.err)
			}
		case <-time.After(StopTimeout):
			t.tb.Errorf("%s did not return within %v of cancel", t.name, StopTimeout)
		}
	})
}

// Returned reports whether the function has returned without being
// stopped, and what it returned: for a test that checks it keeps running.
func (t *Task) Returned() (err error, returned bool) {
	select {
	case <-t.exited:
		return t.err, true
	default:
		return nil, false
	}
}
