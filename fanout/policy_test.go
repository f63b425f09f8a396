package fanout

import (
	"errors"
	"testing"
)

// TestPolicyErrors: Subscribe alone judges a policy, returns a sentinel
// that errors.Is tells apart for each refusal, and refuses before
// changing anything: no subscription, no reply queued.
func TestPolicyErrors(t *testing.T) {
	t.Parallel()
	// A budget of 16 history messages, 8 ticks and 4 bars kept per topic.
	e, _ := newEngine(t, Config{History: 8, BarHistory: 4, ConflateAt: 16 * historyMsgBytes}, "AAPL", "MSFT")
	two := []string{"AAPL", "MSFT"}
	for _, tc := range []struct {
		name string
		syms []string
		p    Policy
		want error
	}{
		{"unknown symbol", []string{"AAPL", "NOPE"}, Policy{}, ErrUnknownSymbol},
		{"unknown stream", two, Policy{Stream: numStreams}, ErrUnknownStream},
		{"no delayed tier", two, Policy{Delayed: true}, ErrNoDelayedTier},
		{"progress on ticks", two, Policy{Partial: true}, ErrNoProgress},
		{"history past the ring", two, Policy{Stream: Bars1s, History: 5}, ErrHistoryTooLong},
		{"negative history", two, Policy{History: -1}, ErrHistoryTooLong},
		{"history past the ticks ring", two, Policy{History: 8 + 1}, ErrHistoryTooLong},
		{"history x symbols past the budget", []string{"AAPL", "MSFT", "AAPL"}, Policy{History: 8}, ErrHistoryBudget},
	} {
		c := newTestClient(e)
		_, err := e.Subscribe(c.Client, tc.syms, tc.p, func(Result) []byte { return []byte("{}") })
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
		if n, _ := c.Len(); n != 0 || e.SubscriptionsOf(c.Client) != 0 {
			t.Errorf("%s: %d queued, %d subscriptions after a refusal", tc.name, n, e.SubscriptionsOf(c.Client))
		}
	}
	c := newTestClient(e)
	if _, err := e.Subscribe(c.Client, two, Policy{Stream: Bars1m, History: 4, Partial: true}, nil); err != nil {
		t.Fatalf("a policy within every bound: %v", err)
	}
	if e.HistoryBudget() != 16 || e.HistoryMax(Ticks) != 8 || e.HistoryMax(Bars1s) != 4 {
		t.Fatalf("budget %d, max %d/%d", e.HistoryBudget(), e.HistoryMax(Ticks), e.HistoryMax(Bars1s))
	}
}
