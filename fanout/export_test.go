package fanout

import (
	"bytes"
	"github.com/prometheus/client_golang/prometheus"
	"slices"

	"github.com/tickgate/tickgate/feed"
)

// testClient is a Client whose writer start only signals Ready, so a test
// drains it itself, inline or from a goroutine of its own, as a session
// writer would.
type testClient struct {
	*Client
	ready chan struct{} // cap 1: signalled when a writer must start
}

func newTestClient(e *Engine) *testClient {
	tc := &testClient{ready: make(chan struct{}, 1)}
	tc.Client = e.NewClient(func(*Client) {
		select {
		case tc.ready <- struct{}{}:
		default:
		}
	})
	return tc
}

// newClient is a test client of an engine of its own, with no symbols,
// whose FIFO queue holds limit bytes and never conflates.
func newClient(limit int) *testClient {
	e, err := New(Config{QueueBytes: limit, ConflateAt: limit}, nil, prometheus.NewRegistry())
	if err != nil {
		panic(err)
	}
	return newTestClient(e)
}

// Ready is signalled when a writer must start: the receiver drains until
// Drain returns nothing, then waits on Ready again.
func (c *testClient) Ready() <-chan struct{} { return c.ready }

// Drain is Next for a test that does not care whether the client closed,
// less the epoch notices that name a symbol's first epoch to a client
// that subscribed before its first tick: what the tests of one run read
// past (TestFirstEpochNamed reads them with Next).
func (c *testClient) Drain(dst []Message, maxBytes int) []Message {
	n := len(dst)
	dst, _ = c.Next(dst, maxBytes)
	kept := slices.DeleteFunc(dst[n:], isEpochNotice)
	return dst[:n+len(kept)]
}

// isEpochNotice reports whether m is an epoch notice.
func isEpochNotice(m Message) bool {
	return bytes.HasPrefix(m.Data, []byte(`{"type":"notice","code":"epoch"`))
}

// subscribe is Subscribe with the every-tick policy and no reply; it
// returns the symbols added.
func subscribe(e *Engine, c *testClient, syms []string) ([]string, error) {
	res, err := e.Subscribe(c.Client, syms, Policy{}, nil)
	return res.Added, err
}

// Last returns the latest tick of sym, if it has one, from its ticks
// topic's snapshot, with its epoch ("" for feed.DefaultEpoch): for tests
// that wait until the engine has taken a tick.
func (e *Engine) Last(sym string) (feed.Tick, bool) {
	s := e.lookup(sym)
	if s == nil {
		return feed.Tick{}, false
	}
	s.shard.mu.Lock()
	defer s.shard.mu.Unlock()
	r := s.topics[Ticks].kept.newest()
	if r == nil || s.lastSeq() == 0 {
		return feed.Tick{}, false
	}
	t := r.tick(s.name)
	if ep := s.epochs.current; ep != feed.DefaultEpoch {
		t.Epoch = ep
	}
	return t, true
}
