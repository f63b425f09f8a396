package subscribe

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
)

// TestWriteTimeoutClosesStalledPeer has one client stop reading while its
// queue is allowed to grow: its socket fills, a frame write waits, and
// after WriteTimeout the session must end with write_timeout and leave
// the engine, while a reading client on the same symbol sees every seq.
func TestWriteTimeoutClosesStalledPeer(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{WriteTimeout: 300 * time.Millisecond}, fanout.Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20})
	fast := e.dialSubscribed("AAPL")
	e.dialSlow("?symbols=AAPL") // never read from

	timedOut := func() error {
		if got := testutil.ToFloat64(e.srv.metrics.disconnects[overWebSocket][ReasonWriteTimeout]); got != 1 {
			return fmt.Errorf("disconnects{reason=write_timeout} = %v", got)
		}
		return nil
	}
	const step, maxSteps = 100, 300
	reader := startTickReader(fast, "AAPL", step*maxSteps)
	published := 0
	for i := 1; i <= maxSteps && timedOut() != nil; i++ {
		e.publish("AAPL", step)
		published += step
		checkFor(t, 10*time.Second, func() error {
			if got := reader.progress.Load(); got < uint64(published) {
				return fmt.Errorf("reading client at seq %d of %d", got, published)
			}
			return nil
		})
	}
	checkFor(t, 10*time.Second, timedOut)
	checkFor(t, 10*time.Second, func() error {
		if n := e.engine.Subscriptions(); n != 1 {
			return fmt.Errorf("subscriptions after the timeout = %d, want 1", n)
		}
		return nil
	})
	if got := testutil.ToFloat64(e.srv.metrics.disconnects[overWebSocket][ReasonSlowConsumer]); got != 0 {
		t.Errorf("disconnects{reason=slow_consumer} = %v, want 0: the queue had room", got)
	}
	fast.Conn.CloseNow() // ends the reader, which waits for step*maxSteps
	err := reader.wait()
	if got := reader.progress.Load(); got < uint64(published) {
		t.Fatalf("reading client got seq %d of %d (%v)", got, published, err)
	}
}

// TestStalledSocketLeavesLane puts a reading client and one that stops
// reading on one write lane. The stalled client's frame write waits on
// its full socket for the whole test (WriteTimeout is long, its queue has
// room), so the lane's worker must hand the lane on and leave that write
// to a goroutine of its own: the reading client must see every seq.
func TestStalledSocketLeavesLane(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{WriteTimeout: time.Minute}, fanout.Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20})
	e.srv.lanes = newWriteLanes(1)
	e.dialSlow("?symbols=AAPL") // never read from
	fast := e.dialSubscribed("AAPL")

	const step, steps = 100, 50
	reader := startTickReader(fast, "AAPL", step*steps)
	e.publishPaced("AAPL", step, steps, &reader.progress)
	if err := reader.wait(); err != nil {
		t.Fatalf("reading client beside the stalled one: %v", err)
	}
	blocked := 0
	e.srv.mu.Lock()
	for s := range e.srv.sessions {
		if s.out.blocked.Load() {
			blocked++
		}
	}
	e.srv.mu.Unlock()
	if blocked != 1 {
		t.Fatalf("%d sessions wait on their socket, want the stalled one", blocked)
	}
}

// TestWriterBatchFromPool has a session's writer take batches from its
// client's queue until the queue is empty, over and over: the writer that
// finds the queue empty must have put its batch buffer back, so an idle
// session holds none, and a writer's run must allocate nothing once the
// pool holds a buffer.
func TestWriterBatchFromPool(t *testing.T) {
	engine, err := fanout.New(fanout.Config{}, feed.Listed("AAPL"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s := &session{srv: &Server{cfg: Config{MaxFrameBytes: 32 << 10}}}
	s.client = engine.NewClient(func(*fanout.Client) {}) // the test is the writer
	msg := fanout.Message{Data: []byte(`{"type":"notice","code":"test"}`)}
	run := func() {
		s.client.Enqueue(msg)
		s.client.Enqueue(msg)
		batch, _ := s.next()
		if len(batch) != 2 {
			t.Fatalf("batch of %d messages, want 2", len(batch))
		}
		clear(batch)
		if batch, _ := s.next(); len(batch) != 0 {
			t.Fatalf("batch of %d messages from an empty queue", len(batch))
		}
		if s.batch != nil {
			t.Fatal("the writer ended holding its batch buffer")
		}
	}
	run() // fills the pool and the queue's backing array
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Fatalf("a writer's run allocates %v times, want 0", allocs)
	}
}
