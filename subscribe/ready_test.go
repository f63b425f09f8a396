package subscribe

import (
	"context"
	"testing"

	"github.com/tickgate/tickgate/fanout"
)

// TestReady follows Ready through what it rests on: not before the feed
// runs, not while clients were last told feed_down, and never again once
// draining.
func TestReady(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"before the feed runs", func() {}, false},
		{"feed running", func() { e.srv.SetFeedRunning(true) }, true},
		{"feed down", func() { e.srv.SetFeedUp(false) }, false},
		{"feed up again", func() { e.srv.SetFeedUp(true) }, true},
		{"feed ended", func() { e.srv.SetFeedRunning(false) }, false},
		{"feed restarted", func() { e.srv.SetFeedRunning(true) }, true},
		{"drained", func() { e.srv.Drain(context.Background(), 0) }, false},
	}
	for _, st := range steps {
		st.do()
		if got := e.srv.Ready(); got != st.want {
			t.Errorf("%s: Ready() = %v, want %v", st.name, got, st.want)
		}
	}
}
