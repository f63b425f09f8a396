package subscribe

import (
	"context"
	"strings"
	"testing"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/wstest"
)

// expect fails unless c's next message has type typ and code (code "" for
// a reply or tick).
func expect(c *wstest.Client, typ, code string) msg {
	c.TB.Helper()
	m := c.Next()
	if m.Type != typ || m.Code != code {
		c.TB.Fatalf("got %+v, want type %q code %q", m, typ, code)
	}
	return m
}

func TestFeedNotices(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	a := e.dial("?symbols=AAPL")
	expect(a, "subscribed", "")

	// Down, twice: one notice, then the tick published after it.
	e.srv.SetFeedUp(false)
	e.srv.SetFeedUp(false)
	expect(a, "notice", "feed_down")
	e.publish("AAPL", 1)
	expect(a, "tick", "")

	// While down, a new client hears feed_down before anything else.
	b := e.dial("?symbols=MSFT")
	expect(b, "notice", "feed_down")
	expect(b, "subscribed", "")
	c := e.dial("")
	expect(c, "notice", "feed_down")

	// Up, twice: one feed_up each.
	e.srv.SetFeedUp(true)
	e.srv.SetFeedUp(true)
	for _, cl := range []*wstest.Client{a, b, c} {
		expect(cl, "notice", "feed_up")
	}
	e.publish("AAPL", 1)
	expect(a, "tick", "")
	e.publish("MSFT", 1)
	expect(b, "tick", "")

	// Up: a new client gets no notice.
	d := e.dial("?symbols=AAPL")
	expect(d, "subscribed", "")
}

// TestFeedEndedNotice: a feed that stops running after it ran (a replay
// at the end of its file) is a feed_down that says so, to every session
// and to each new one first; it is said once, even if the feed was down
// already, and a feed that runs again is feed_up.
func TestFeedEndedNotice(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	a := e.dial("?symbols=AAPL")
	expect(a, "subscribed", "")
	e.srv.SetFeedRunning(true)
	e.publish("AAPL", 1)
	expect(a, "tick", "")

	e.srv.SetFeedRunning(false)
	if m := expect(a, "notice", "feed_down"); !strings.Contains(string(m.Raw), "ended") {
		t.Errorf("feed_down %s does not say the feed ended", m.Raw)
	}
	b := e.dial("?symbols=AAPL")
	if m := expect(b, "notice", "feed_down"); !strings.Contains(string(m.Raw), "ended") {
		t.Errorf("a new client's feed_down %s does not say the feed ended", m.Raw)
	}
	expect(b, "subscribed", "")
	expect(b, "tick", "") // the last tick still stands as the snapshot

	e.srv.SetFeedUp(false) // down as well: nothing new to tell
	e.srv.SetFeedUp(true)  // up, but still ended: nothing either
	e.srv.SetFeedRunning(true)
	expect(a, "notice", "feed_up")
	expect(b, "notice", "feed_up")

	// Never run: no notice, whatever the order of the first calls.
	e2 := newTestEnv(t, Config{}, fanout.Config{})
	e2.srv.SetFeedRunning(false)
	c := e2.dial("?symbols=AAPL")
	expect(c, "subscribed", "")
}

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
