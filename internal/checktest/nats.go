package checktest

import (
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tickgate/tickgate/feed"
)

// Subscribe records every tick published on prefix.> at the NATS server
// at url (heartbeats and anything else that is not a tick are skipped)
// until the test ends, reconnecting across an outage. It returns once the
// server has the subscription: every tick published after it is seen.
func (tr *Truth) Subscribe(tb testing.TB, url, prefix string) {
	tb.Helper()
	nc, err := natsgo.Connect(url, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(5*time.Millisecond), natsgo.ReconnectJitter(0, 0))
	if err != nil {
		tb.Fatalf("checktest: connect %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	sub, err := nc.Subscribe(prefix+".>", func(m *natsgo.Msg) {
		if tk, err := feed.DecodeJSON(m.Data); err == nil {
			tr.Add(tk)
		}
	})
	if err != nil {
		tb.Fatalf("checktest: subscribe: %v", err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		tb.Fatalf("checktest: flush: %v", err)
	}
}
