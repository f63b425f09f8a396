package subscribe

import (
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestWriteTimeoutClosesStalledPeer has one client stop reading while its
// queue is allowed to grow (conflation off, one symbol) or conflates (all
// symbols): either way its socket fills, a write waits, and after
// WriteTimeout the session must end with write_timeout and leave the
// engine, while a reading client on the same symbols sees every seq. The
// close frame, 4008, waits in the socket behind what the client has not
// read: once it reads again, it finds out why it was closed. (The
// sockets' send buffers are the kernel's: the close frame goes in behind a
// frame the stall cut only if the buffer has room for both.)
func TestWriteTimeoutClosesStalledPeer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		syms string
		fcfg fanout.Config
	}{
		{"one symbol, fifo", "AAPL", fanout.Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20}},
		{"every symbol, conflated", "*", fanout.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnvOn(t, Config{WriteTimeout: 300 * time.Millisecond}, tc.fcfg, slog.New(slog.DiscardHandler), kernelSendBuf)
			fast := e.dialSubscribed("AAPL")
			slow := e.dialSlow("?symbols=" + tc.syms) // not read from until it is closed
			stallUntilTimedOut(t, e, fast, tc.syms == "*")
			if got := testutil.ToFloat64(e.srv.metrics.disconnects[overWebSocket][ReasonSlowConsumer]); got != 0 {
				t.Errorf("disconnects{reason=slow_consumer} = %v, want 0: the queue had room", got)
			}
			if code, err := closeStatus(slow); code != CodeNotReading || !strings.Contains(err.Error(), "write timeout") {
				t.Fatalf("stalled client ended with %v, want close %d", err, CodeNotReading)
			}
		})
	}
}

// stallUntilTimedOut publishes AAPL (every symbol with all) while fast
// reads, until a session ends with write_timeout, then checks that it left
// the engine and that fast got every seq.
func stallUntilTimedOut(t *testing.T, e *testEnv, fast *wstest.Client, all bool) {
	t.Helper()
	timedOut := func() error {
		if got := testutil.ToFloat64(e.srv.metrics.disconnects[overWebSocket][ReasonWriteTimeout]); got != 1 {
			return fmt.Errorf("disconnects{reason=write_timeout} = %v", got)
		}
		return nil
	}
	syms := []string{"AAPL"}
	if all {
		syms = testSymbols
	}
	const step, maxSteps = 100, 300
	reader := startTickReader(fast, "AAPL", step*maxSteps)
	published := 0
	for i := 1; i <= maxSteps && timedOut() != nil; i++ {
		for _, sym := range syms {
			e.publish(sym, step)
		}
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
			return fmt.Errorf("subscriptions after the timeout = %d, want fast's 1", n)
		}
		return nil
	})
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
// session holds none.
func TestWriterBatchFromPool(t *testing.T) {
	run := writerRun(t)
	for range 100 {
		run()
	}
}

// TestWriterRunAllocs checks that a writer's run allocates nothing once
// the pool holds a buffer. Under the race detector sync.Pool drops a
// quarter of what it is given on purpose, so the count means something
// only without it: make test-go runs the allocation tests both ways.
func TestWriterRunAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under -race; make test-go runs this without it")
	}
	run := writerRun(t)
	run() // fills the pool and the queue's backing array
	if allocs := testing.AllocsPerRun(100, run); allocs != 0 {
		t.Fatalf("a writer's run allocates %v times, want 0", allocs)
	}
}

// writerRun returns one run of a session's writer that the test drives
// itself: two messages in, a batch of both out, then the empty queue that
// ends the writer, which must leave the session holding no buffer.
func writerRun(t *testing.T) func() {
	t.Helper()
	engine, err := fanout.New(fanout.Config{}, feed.Listed("AAPL"), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s := &session{srv: &Server{cfg: Config{MaxFrameBytes: 32 << 10}}}
	s.client = engine.NewClient(func(*fanout.Client) {}) // the test is the writer
	msg := fanout.Message{Data: []byte(`{"type":"notice","code":"test"}`)}
	return func() {
		s.client.Enqueue(msg)
		s.client.Enqueue(msg)
		batch, _ := s.next(s.srv.cfg.MaxFrameBytes)
		if len(batch) != 2 {
			t.Fatalf("batch of %d messages, want 2", len(batch))
		}
		clear(batch)
		if batch, _ := s.next(s.srv.cfg.MaxFrameBytes); len(batch) != 0 {
			t.Fatalf("batch of %d messages from an empty queue", len(batch))
		}
		if s.batch != nil {
			t.Fatal("the writer ended holding its batch buffer")
		}
	}
}

// kernelSendBuf accepts connections as they come, their send buffers sized
// by the kernel.
func kernelSendBuf(ln net.Listener) net.Listener { return ln }
