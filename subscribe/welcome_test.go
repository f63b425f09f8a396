package subscribe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/wstest"
)

// firstMessage dials url and reads the first frame itself, past any rule
// of wstest's about which messages a test sees, and returns its first
// message.
func firstMessage(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := wstest.DialRaw(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(websocket.StatusNormalClosure, "")
	_, b, err := conn.Read(ctx)
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
	const want = `{"type":"welcome","history_budget":16,"history":{"ticks":7,"bars.1s":3,"bars.1m":3,"book":0,"status":0},"book_depth":10}`
	for _, query := range []string{"", "?symbols=AAPL"} {
		if got := firstMessage(t, e.url+query); got != want {
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
	c.Send(`{"op":"auth","id":1,"token":"all"}`)
	expectReply(c, "authenticated", 1) // the reader has passed the welcome: Welcome is set
	if m := c.Welcome; m == nil || m.HistoryBudget != e.engine.HistoryBudget() || len(m.History) != len(fanout.Streams()) {
		t.Fatalf("welcome %+v", m)
	}
}
