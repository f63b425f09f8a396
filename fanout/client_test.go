package fanout

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// msgOf is a message whose Data is id padded with dots to size bytes.
func msgOf(id, size int) Message {
	b := strconv.AppendInt(make([]byte, 0, size), int64(id), 10)
	for len(b) < size {
		b = append(b, '.')
	}
	return Message{Data: b, TS: int64(id)}
}

// idsOf returns the TS of each message, which msgOf sets to its id.
func idsOf(msgs []Message) []int64 {
	ids := make([]int64, len(msgs))
	for i, m := range msgs {
		ids[i] = m.TS
	}
	return ids
}

func enqueueAll(tb testing.TB, c *testClient, msgs ...Message) {
	tb.Helper()
	for _, m := range msgs {
		if !c.Enqueue(m) {
			tb.Fatalf("Enqueue(%q) = false, cause %v", m.Data, c.Cause())
		}
	}
}

func isReady(c *testClient) bool {
	select {
	case <-c.Ready():
		return true
	default:
		return false
	}
}

func isDone(c *testClient) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

func TestDrainFIFO(t *testing.T) {
	t.Parallel()
	c := newClient(1 << 20)
	for id := range 10 {
		enqueueAll(t, c, msgOf(id, 10+id))
	}
	got := idsOf(drainAll(c))
	want := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("drained %v, want %v", got, want)
	}
	if n, b := c.Len(); n != 0 || b != 0 {
		t.Fatalf("Len() = %d, %d after draining all", n, b)
	}
	if got := c.Drain(nil, 100); len(got) != 0 {
		t.Fatalf("Drain of an empty queue = %v", idsOf(got))
	}
}

func TestDrainMaxBytes(t *testing.T) {
	t.Parallel()
	c := newClient(1 << 20)
	for id := range 6 {
		enqueueAll(t, c, msgOf(id, 10))
	}
	for _, step := range []struct {
		maxBytes int
		want     string
	}{
		{25, "[0 1]"},   // a third would make 32 with separators
		{32, "[2 3 4]"}, // 3 messages and 2 separators: exactly the limit is allowed
		{0, "[5]"},      // at least one, even past the limit
	} {
		if got := fmt.Sprint(idsOf(c.Drain(nil, step.maxBytes))); got != step.want {
			t.Fatalf("Drain(%d) = %s, want %s", step.maxBytes, got, step.want)
		}
	}
	enqueueAll(t, c, msgOf(6, 100), msgOf(7, 1))
	if got := fmt.Sprint(idsOf(c.Drain(nil, 50))); got != "[6]" {
		t.Fatalf("Drain(50) with a 100-byte head = %s, want [6] alone", got)
	}
	if n, b := c.Len(); n != 1 || b != 1 {
		t.Fatalf("Len() = %d, %d; want 1, 1", n, b)
	}
}

func TestDrainAppendsToDst(t *testing.T) {
	t.Parallel()
	c := newClient(1 << 20)
	enqueueAll(t, c, msgOf(1, 5), msgOf(2, 5))
	dst := make([]Message, 1, 8)
	dst[0] = msgOf(0, 5)
	if got := fmt.Sprint(idsOf(c.Drain(dst, 100))); got != "[0 1 2]" {
		t.Fatalf("Drain(dst) = %s, want [0 1 2]", got)
	}
}

// TestReadySignalledOnEmptyToNonEmpty checks that Ready starts a writer
// only when none runs: a writer runs from the signal until a Drain finds
// the queue empty.
func TestReadySignalledOnEmptyToNonEmpty(t *testing.T) {
	t.Parallel()
	c := newClient(1 << 20)
	if isReady(c) {
		t.Fatal("Ready signalled on a new client")
	}
	enqueueAll(t, c, msgOf(1, 5))
	if !isReady(c) {
		t.Fatal("Ready not signalled after the first Enqueue")
	}
	enqueueAll(t, c, msgOf(2, 5))
	if isReady(c) {
		t.Fatal("Ready signalled by an Enqueue to a non-empty queue")
	}
	c.Drain(nil, 5) // leaves one
	enqueueAll(t, c, msgOf(3, 5))
	if isReady(c) {
		t.Fatal("Ready signalled though the queue never emptied")
	}
	drainAll(c)
	enqueueAll(t, c, msgOf(4, 5))
	enqueueAll(t, c, msgOf(5, 5))
	if !isReady(c) {
		t.Fatal("Ready not signalled after the queue emptied and refilled")
	}
	if isReady(c) {
		t.Fatal("Ready holds more than one signal")
	}
}

func TestCloseIdempotentKeepsCause(t *testing.T) {
	t.Parallel()
	first, second := errors.New("first"), errors.New("second")
	c := newClient(1 << 20)
	if c.Cause() != nil || isDone(c) {
		t.Fatal("new client is closed")
	}
	enqueueAll(t, c, msgOf(1, 5))
	c.Close(first)
	c.Close(second)
	c.Close(nil)
	if !isDone(c) {
		t.Fatal("Done not closed")
	}
	if c.Cause() != first {
		t.Fatalf("Cause() = %v, want the first cause", c.Cause())
	}
	if c.Enqueue(msgOf(2, 5)) {
		t.Fatal("Enqueue after Close = true")
	}
	if res, _ := c.enqueue(msgOf(3, 5)); res != enqueueClosed {
		t.Fatalf("enqueue after Close = %v, want enqueueClosed", res)
	}
	if got := fmt.Sprint(idsOf(drainAll(c))); got != "[1]" {
		t.Fatalf("Drain after Close = %s, want the message queued before", got)
	}
}

func TestCloseNilCause(t *testing.T) {
	t.Parallel()
	c := newClient(1 << 20)
	c.Close(nil)
	if c.Cause() == nil || !isDone(c) {
		t.Fatalf("Close(nil): cause %v, done %v", c.Cause(), isDone(c))
	}
}

// TestClosePeerGoneDropsQueue closes with a cause wrapping ErrPeerGone:
// the queue is dropped at once, as nobody will read it.
func TestClosePeerGoneDropsQueue(t *testing.T) {
	t.Parallel()
	c := newClient(1 << 20)
	enqueueAll(t, c, msgOf(1, 5), msgOf(2, 5))
	c.Close(fmt.Errorf("session: peer left: %w", ErrPeerGone))
	if n, b := c.Len(); n != 0 || b != 0 {
		t.Fatalf("Len() = %d, %d after a peer-gone close, want 0, 0", n, b)
	}
	if got := drainAll(c); len(got) != 0 {
		t.Fatalf("Drain after a peer-gone close = %v, want nothing", idsOf(got))
	}
}

func TestEnqueueOverflowClosesOnce(t *testing.T) {
	t.Parallel()
	c := newClient(100)
	enqueueAll(t, c, msgOf(1, 60), msgOf(2, 40)) // exactly the limit fits
	if res, _ := c.enqueue(msgOf(3, 1)); res != enqueueOverflowed {
		t.Fatalf("enqueue past the limit = %v, want enqueueOverflowed", res)
	}
	if !errors.Is(c.Cause(), ErrSlowConsumer) || !isDone(c) {
		t.Fatalf("after overflow: cause %v, done %v", c.Cause(), isDone(c))
	}
	if res, _ := c.enqueue(msgOf(4, 1)); res != enqueueClosed {
		t.Fatalf("enqueue after overflow = %v, want enqueueClosed (count once)", res)
	}
	if n, b := c.Len(); n != 0 || b != 0 {
		t.Fatalf("Len() = %d, %d; a slow consumer's queue is dropped at once", n, b)
	}
}

// TestQueueModel interleaves enqueues and partial drains against a plain
// slice: order and byte counts must match, drained slots must not keep
// shared bytes, and the backing array must stay in proportion to what is
// pending however much has gone through.
func TestQueueModel(t *testing.T) {
	t.Parallel()
	const ops = 100_000
	rng := rand.New(rand.NewPCG(1, 2))
	c := newClient(1 << 30)
	var model []Message
	next, peak := 0, 0
	for op := range ops {
		if rng.IntN(2) == 0 {
			for range rng.IntN(8) {
				m := msgOf(next, 1+rng.IntN(40))
				next++
				enqueueAll(t, c, m)
				model = append(model, m)
			}
		} else {
			maxBytes := rng.IntN(200)
			got := c.Drain(nil, maxBytes)
			want := modelDrain(&model, maxBytes)
			if fmt.Sprint(idsOf(got)) != fmt.Sprint(idsOf(want)) {
				t.Fatalf("op %d: Drain(%d) = %v, want %v", op, maxBytes, idsOf(got), idsOf(want))
			}
		}
		peak = max(peak, len(model))
		checkQueueInvariants(t, c, model, peak)
	}
	if next < ops {
		t.Fatalf("only %d messages went through", next)
	}
}

// modelDrain is Drain on a plain slice.
func modelDrain(model *[]Message, maxBytes int) []Message {
	n, bytes := 0, 0
	// A frame holds n messages and n-1 '\n' separators.
	for n < len(*model) && (n == 0 || bytes+n+len((*model)[n].Data) <= maxBytes) {
		bytes += len((*model)[n].Data)
		n++
	}
	out := (*model)[:n:n]
	*model = (*model)[n:]
	return out
}

func checkQueueInvariants(tb testing.TB, c *testClient, model []Message, peak int) {
	tb.Helper()
	bytes := 0
	for _, m := range model {
		bytes += len(m.Data)
	}
	if n, b := c.Len(); n != len(model) || b != bytes {
		tb.Fatalf("Len() = %d, %d; model has %d, %d", n, b, len(model), bytes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := &c.q
	for i, m := range q.q[:cap(q.q)] {
		if (i < q.head || i >= len(q.q)) && m.Data != nil {
			tb.Fatalf("slot %d outside [head %d, len %d) still holds %q", i, q.head, len(q.q), m.Data)
		}
	}
	if limit := 4*peak + maxIdleQueueCap; cap(q.q) > limit {
		tb.Fatalf("queue cap %d for at most %d pending", cap(q.q), peak)
	}
}
