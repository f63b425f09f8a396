package poll

import (
	"errors"
	"testing"
	"time"
)

func TestUntilReturnsOnceTrue(t *testing.T) {
	calls := 0
	Until(t, time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Fatalf("f called %d times, want 3", calls)
	}
}

func TestUntilFailsAfterTimeout(t *testing.T) {
	if !fails(func(tb testing.TB) {
		Until(tb, 20*time.Millisecond, func() error { return errors.New("never") })
	}) {
		t.Fatal("Until did not fail on a condition that never holds")
	}
}

func TestEveryWaitsInterval(t *testing.T) {
	var calls []time.Time
	Every(t, time.Second, 20*time.Millisecond, func() error {
		if calls = append(calls, time.Now()); len(calls) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < 20*time.Millisecond {
			t.Errorf("call %d came %v after the previous one, want at least the 20ms interval", i, gap)
		}
	}
}

func TestHolds(t *testing.T) {
	calls := 0
	Holds(t, 30*time.Millisecond, 5*time.Millisecond, func() error { calls++; return nil })
	if calls < 2 {
		t.Errorf("f called %d times over 30ms every 5ms, want several", calls)
	}
	n := 0
	if !fails(func(tb testing.TB) {
		Holds(tb, time.Second, time.Millisecond, func() error {
			if n++; n == 3 {
				return errors.New("broke")
			}
			return nil
		})
	}) {
		t.Fatal("Holds did not fail when the condition broke")
	}
	if n != 3 {
		t.Errorf("Holds called f %d times, want it to stop at the first failure (3)", n)
	}
}

// fails runs f with a fakeTB and reports whether f failed it.
func fails(f func(tb testing.TB)) bool {
	ft := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }() // fakeTB's Fatal panics to stop f
		f(ft)
	}()
	<-done
	return ft.failed
}

type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(...any) {
	f.failed = true
	panic("fatal")
}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
