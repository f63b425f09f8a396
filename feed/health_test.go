package feed

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
)

// settable is a Watcher whose health the test sets, as a source's
// callbacks would.
type settable struct {
	mu      sync.Mutex
	h       Health
	changed chan struct{}
}

func (s *settable) Health() (Health, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.h, s.changed
}

func (s *settable) set(h Health) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
	close(s.changed)
	s.changed = make(chan struct{})
}

// TestFollowTellsABlip checks what clients are told: the first look, a
// down and an up that Follow sees one by one, and a down and up that both
// happen before it looks again (a blip), which must still reach clients
// as false then true, since ticks may have been lost in it.
func TestFollowTellsABlip(t *testing.T) {
	t.Parallel()
	w := &settable{h: Down, changed: make(chan struct{})}
	told, ack := make(chan bool), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tell := func(up bool) { told <- up; <-ack } // Follow waits while the test acts
		Follow(ctx, w, tell, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	expect := func(want ...bool) {
		t.Helper()
		for _, up := range want {
			if got := <-told; got != up {
				t.Fatalf("told up=%v, want %v", got, up)
			}
			ack <- struct{}{}
		}
	}
	expect(false) // the first look
	w.set(Up)
	expect(true)
	w.set(Stalled)
	expect(false)
	w.set(Up)
	if !<-told {
		t.Fatal("told down, want up after the stall ended")
	}
	// Follow waits in tell: both changes of the blip happen before it
	// looks again.
	w.set(Down)
	w.set(Up)
	ack <- struct{}{}
	expect(false, true)
	cancel()
	<-done
}
