package runtest

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestStopCancels starts a function that runs until cancelled: it has not
// returned before Stop, and Stop (twice) leaves no goroutine behind.
func TestStopCancels(t *testing.T) {
	task := Start(t, "wait", func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	})
	if _, returned := task.Returned(); returned {
		t.Fatal("returned before Stop")
	}
	task.Stop()
	task.Stop()
	if err, returned := task.Returned(); !returned || err != nil {
		t.Fatalf("after Stop: returned %v with %v, want true with nil", returned, err)
	}
}

// TestReturnedEarly sees a function's error before Stop.
func TestReturnedEarly(t *testing.T) {
	boom := errors.New("boom")
	task := Start(t, "fail", func(context.Context) error { return boom })
	<-task.exited
	if err, returned := task.Returned(); !returned || err != boom {
		t.Fatalf("Returned = %v, %v; want boom, true", err, returned)
	}
	task.err = nil // the cleanup's Stop would report it
}
