package subscribe

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/ssetest"
)

// publishNow publishes the next tick of sym without waiting for the
// engine, for tests that pace the feed themselves.
func (e *testEnv) publishNow(sym string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq[sym]++
	seq := e.seq[sym]
	e.put(feed.Tick{Symbol: sym, Seq: seq, Price: 100, Size: 100, Bid: 99.99, Ask: 100.01, TS: time.Now().UnixNano()})
	return seq
}

// seqTracker checks each symbol's ticks with the client rule of
// docs/protocol.md: a tick standing for n ticks (n absent = 1) must
// continue the last seq, seq-n == last, once the first tick is seen. It
// also checks that notices alternate conflated, live, ... and that ticks
// carry n only while conflated.
type seqTracker struct {
	rateLimited bool // ticks may carry n while live (max_rate)
	last        map[string]uint64
	merged      int // ticks with n > 1
	notices     []string
}

func newSeqTracker() *seqTracker { return &seqTracker{last: map[string]uint64{}} }

func (s *seqTracker) add(m msg) error {
	switch m.Type {
	case "notice":
		want := "conflated"
		if len(s.notices)%2 == 1 {
			want = "live"
		}
		if m.Code != want {
			return fmt.Errorf("notice %q after %q, want %q", m.Code, s.notices, want)
		}
		s.notices = append(s.notices, m.Code)
		return nil
	case "tick":
	default:
		return fmt.Errorf("unexpected %+v", m)
	}
	n := max(m.N, 1)
	if last, seen := s.last[m.Sym]; seen && m.Seq-n != last {
		return fmt.Errorf("%s seq %d n %d after %d: gap or repeat", m.Sym, m.Seq, n, last)
	}
	if n > 1 && len(s.notices)%2 == 0 && !s.rateLimited {
		return fmt.Errorf("%s seq %d with n %d while live (notices %q)", m.Sym, m.Seq, n, s.notices)
	}
	if n > 1 {
		s.merged++
	}
	s.last[m.Sym] = m.Seq
	return nil
}

// msgReader is a client of either transport: wstest's or ssetest's.
type msgReader interface{ Read() (msg, error) }

// readUntil feeds c's messages to the tracker until every symbol in want
// reached its seq.
func readUntil(c msgReader, tr *seqTracker, want map[string]uint64) error {
	for {
		done := true
		for sym, seq := range want {
			done = done && tr.last[sym] >= seq
		}
		if done {
			return nil
		}
		m, err := c.Read()
		if err != nil {
			return fmt.Errorf("stuck at %v, want %v: %w", tr.last, want, err)
		}
		if err := tr.add(m); err != nil {
			return err
		}
	}
}

// TestMaxRateOverSocket feeds a symbol at 200 ticks/s for 5 s to a
// max_rate 2 subscription: about 2 updates a second, n adding up to the
// seq advance, and the last tick delivered after the feed goes quiet.
func TestMaxRateOverSocket(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{RateClasses: []float64{1, 2, 5}})
	c := e.dial("")
	c.Send(`{"op":"subscribe","id":1,"symbols":["AAPL"],"max_rate":2.5}`)
	if r := expectReply(c, "subscribed", 1); r.MaxRate != 2 || r.Recovered != nil {
		t.Fatalf("reply %+v, want max_rate 2 and no recovery lists", r)
	}
	const d = 5 * time.Second
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var last uint64
	for end := time.Now().Add(d); time.Now().Before(end); <-tick.C {
		last = e.publishNow("AAPL")
	}
	quiet := time.Now()
	tr := newSeqTracker()
	tr.rateLimited = true
	var updates int
	var sum uint64
	for tr.last["AAPL"] < last {
		m := c.Next()
		if err := tr.add(m); err != nil {
			t.Fatal(err)
		}
		updates++
		sum += max(m.N, 1)
	}
	t.Logf("%d ticks sent as %d updates; last one %v after the feed went quiet", last, updates, time.Since(quiet))
	if sum != last {
		t.Fatalf("n adds up to %d, want the seq advance %d", sum, last)
	}
	// At most one per 500 ms slot, plus the slot the feed started in.
	if limit := int(d/(500*time.Millisecond)) + 2; updates > limit || updates < limit/2 {
		t.Fatalf("%d updates in %v at max_rate 2, want about %d", updates, d, limit)
	}
}

// TestSlowReaderConflatedNotDropped makes a client on a slow link fall
// behind, over each transport: it must get "conflated", ticks with n that
// still add up, never 4001, and "live" once it has read fast again for
// ten times max_staleness, while a client beside it on the same symbols
// sees every seq.
func TestSlowReaderConflatedNotDropped(t *testing.T) {
	t.Parallel()
	const syms = "?symbols=AAPL,MSFT,NVDA,AMZN"
	newEnv := func(t *testing.T) *testEnv {
		return newTestEnv(t, Config{WriteTimeout: time.Minute, MaxStaleness: 100 * time.Millisecond}, fanout.Config{QueueBytes: 512 << 10, ConflateAt: 16 << 10})
	}
	t.Run("ws", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		by := e.dialSubscribed("AAPL,MSFT,NVDA,AMZN")
		slow := e.dialSlow(syms)
		reading := false
		slowReaderConflated(t, e, by, slowReader{slow, func(d time.Duration) {
			slow.FrameDelay.Store(int64(d))
			if !reading {
				slow.ReadAhead()
				reading = true
			}
		}})
	})
	t.Run("sse", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		by := e.dialSSE(syms, ssetest.Options{})
		expectReply(by, "subscribed", 0)
		slow := e.dialSSE(syms, ssetest.Options{RecvBuf: 4096})
		slowReaderConflated(t, e, by, slowReader{slow, func(d time.Duration) { slow.Delay.Store(int64(d)) }})
	})
}

// slowReader is a client on a slow link: it reads nothing until the test
// reads it, and then pauses after each frame or event for the delay
// pause sets.
type slowReader struct {
	testClient
	pause func(time.Duration)
}

// slowReaderConflated runs TestSlowReaderConflatedNotDropped with by, the
// bystander, and slow, both subscribed to AAPL, MSFT, NVDA and AMZN on e.
func slowReaderConflated(t *testing.T, e *testEnv, by testClient, slow slowReader) {
	syms := []string{"AAPL", "MSFT", "NVDA", "AMZN"}
	byTr, want := newSeqTracker(), map[string]uint64{}
	round := func() {
		t.Helper()
		for range 10 { // a burst well under the conflate mark
			for _, sym := range syms {
				want[sym] = e.publishNow(sym)
			}
		}
		if err := readUntil(by, byTr, want); err != nil {
			t.Fatalf("bystander: %v", err)
		}
	}
	// The slow client does not read at all until its queue conflates.
	checkFor(t, 20*time.Second, func() error {
		round()
		if got := gathered(t, e.reg, "tickgate_degraded_clients"); got != 1 {
			return fmt.Errorf("degraded clients %v", got)
		}
		return nil
	})
	slow.pause(20 * time.Millisecond) // then reads slowly
	expectReply(slow.testClient, "subscribed", 0)
	for range 10 {
		round()
	}
	slow.pause(0) // and fast again
	tr := newSeqTracker()
	if err := readUntil(slow, tr, want); err != nil {
		t.Fatalf("slow client: %v", err)
	}
	// Caught up: once it has kept up for a second, with ticks to write,
	// the live notice follows.
	checkFor(t, 20*time.Second, func() error {
		round()
		if err := readUntil(slow, tr, want); err != nil {
			t.Fatalf("slow client: %v", err)
		}
		if len(tr.notices)%2 == 1 {
			return fmt.Errorf("notices %q", tr.notices)
		}
		return nil
	})
	if got := gathered(t, e.reg, "tickgate_degraded_clients"); got != 0 {
		t.Fatalf("degraded clients %v after live", got)
	}
	for range 2 { // FIFO again: every tick, no n
		round()
	}
	if err := readUntil(slow, tr, want); err != nil {
		t.Fatalf("slow client after live: %v", err)
	}
	// A client on a bursty feed may catch up between bursts and fall
	// behind again: the notices alternate (seqTracker checks it) and end
	// live.
	if n := len(tr.notices); n == 0 || tr.notices[n-1] != "live" || tr.merged == 0 {
		t.Fatalf("notices %q, %d ticks with n; want conflated ... live, with n while conflated", tr.notices, tr.merged)
	}
	t.Logf("notices %q, %d ticks with n", tr.notices, tr.merged)
	if got := gathered(t, e.reg, "tickgate_slow_consumers_total"); got != 0 {
		t.Fatalf("slow_consumers_total %v, want 0: conflate, not drop", got)
	}
	if byTr.merged != 0 || len(byTr.notices) != 0 {
		t.Fatalf("bystander saw %d conflated ticks and notices %q", byTr.merged, byTr.notices)
	}
}

// TestReconnectWithSince reads part of a stream, disconnects, misses ten
// ticks and resubscribes with since: exactly the missed seqs come back. A
// since older than the ring falls back to the snapshot, and the reply
// says which is which.
func TestReconnectWithSince(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{History: 16})
	first := e.dialSubscribed("AAPL")
	e.publish("AAPL", 40)
	expectTicks(first, "AAPL", 0, 40)
	first.Conn.CloseNow()
	e.publish("AAPL", 10) // missed while away
	e.publish("MSFT", 30) // its ring holds 15..30

	c := e.dial("")
	c.Send(`{"op":"subscribe","id":7,"symbols":["AAPL","MSFT"],"since":{"AAPL":40,"MSFT":1}}`)
	r := expectReply(c, "subscribed", 7)
	if !slices.Equal(r.Recovered, []string{"AAPL"}) || !slices.Equal(r.Snapshot, []string{"MSFT"}) {
		t.Fatalf("reply %+v, want recovered [AAPL], snapshot [MSFT]", r)
	}
	got := map[string][]uint64{}
	for len(got["AAPL"]) < 10 || len(got["MSFT"]) < 1 {
		m := c.Next()
		got[m.Sym] = append(got[m.Sym], m.Seq)
	}
	if fmt.Sprint(got["AAPL"]) != "[41 42 43 44 45 46 47 48 49 50]" || fmt.Sprint(got["MSFT"]) != "[30]" {
		t.Fatalf("caught up %v, want AAPL 41..50 and MSFT's snapshot 30", got)
	}
	e.publish("AAPL", 1)
	expectTicks(c, "AAPL", 50, 1)
}
