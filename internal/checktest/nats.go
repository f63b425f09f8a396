package checktest

import (
	"errors"
	"fmt"
	"sync/atomic"
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
	nc, err := natsgo.Connect(url, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(5*time.Millisecond), natsgo.ReconnectJitter(0, 0),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil { // nil: closed at the test's end
				tr.noteLost("disconnected", err)
			}
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) { tr.noteLost("error", err) }))
	if err != nil {
		tb.Fatalf("checktest: connect %s: %v", url, err)
	}
	tb.Cleanup(nc.Close)
	var handled atomic.Int64
	sub, err := nc.Subscribe(prefix+".>", func(m *natsgo.Msg) {
		if tk, err := feed.DecodeJSON(m.Data); err == nil {
			tr.Add(tk)
		}
		handled.Add(1)
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
	tr.mu.Lock()
	tr.syncs = append(tr.syncs, func() error { return caughtUp(nc, sub, &handled) })
	tr.mu.Unlock()
}

// caughtUp waits until sub's handler has taken every message the server
// sent nc before a ping now: a flush reads them into sub's queue, and
// Delivered counts each handed to the handler, which counts it done.
func caughtUp(nc *natsgo.Conn, sub *natsgo.Subscription, handled *atomic.Int64) error {
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		return fmt.Errorf("checktest: flush: %w", err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		delivered, err := sub.Delivered()
		if err != nil {
			return fmt.Errorf("checktest: %w", err)
		}
		if n, _, _ := sub.Pending(); n == 0 && handled.Load() == delivered {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("checktest: the truth's subscription still busy after 5s")
		}
	}
}

// Sync waits until the truth has every tick the NATS servers it is
// subscribed to had sent it when Sync was called: every tick a gateway
// delivered before then. Check a session's record after it: it judges the
// messages the session got before the last Sync began, as a tick a
// session gets after that may not have reached the truth yet.
func (tr *Truth) Sync(tb testing.TB) {
	tb.Helper()
	began := time.Now()
	tr.mu.Lock()
	syncs := tr.syncs
	tr.mu.Unlock()
	for _, sync := range syncs {
		if err := sync(); err != nil {
			tb.Fatal(err)
		}
	}
	tr.mu.Lock()
	tr.synced = began
	tr.mu.Unlock()
}
