package subscribe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
)

// firstMessage reads c's first frame itself, with no wsClient reader, and
// returns its first message.
func firstMessage(t *testing.T, c *wsClient) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return first
}

// TestWelcomeFirst: every connection's first message is the welcome with
// the engine's history budget and each stream's max history, ahead of the
// ?symbols= reply and ahead of a feed_down notice.
func TestWelcomeFirst(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 7, BarHistory: 3, QueueBytes: 16 << 10, ConflateAt: 4 << 10})
	e.srv.SetFeedUp(false)
	const want = `{"type":"welcome","history_budget":16,"history":{"ticks":7,"bars.1s":3,"bars.1m":3}}`
	for _, query := range []string{"", "?symbols=AAPL"} {
		c, err := dialWS(e.url + query)
		if err != nil {
			t.Fatal(err)
		}
		c.t = t
		t.Cleanup(func() { c.conn.CloseNow() })
		if got := firstMessage(t, c); got != want {
			t.Errorf("%q: first message %s, want %s", query, got, want)
		}
	}
}

// TestWelcomeBeforeFirstMessageToken: with a Verifier and no token on the
// upgrade, the welcome still comes first, and the token sent after it is
// answered as before.
func TestWelcomeBeforeFirstMessageToken(t *testing.T) {
	t.Parallel()
	e, _ := newAuthEnv(t, fanout.Config{})
	c := e.dial("")
	select {
	case m := <-c.welcome:
		if m.HistoryBudget != e.engine.HistoryBudget() || len(m.History) != len(fanout.Streams()) {
			t.Fatalf("welcome %s", m.Raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no welcome within 5s")
	}
	c.send(`{"op":"auth","id":1,"token":"all"}`)
	c.expectReply("authenticated", 1)
}
