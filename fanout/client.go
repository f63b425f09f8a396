package fanout

import (
	"errors"
	"sync"
)

// ErrSlowConsumer is the close cause of a client whose queue overflowed.
var ErrSlowConsumer = errors.New("fanout: slow consumer")

// Message is one queued protocol message. Data is shared and immutable: the
// same slice may sit in thousands of queues, so nobody may write to it after
// it is queued. TS is the feed timestamp of a live tick (Unix ns); it is 0
// for replies and snapshots, whose age is not delivery latency.
type Message struct {
	Data []byte
	TS   int64
}

// Client is one subscriber's bounded queue. Shards and the session's reader
// enqueue; a writer drains. A queue holds at most its byte limit of
// messages; the enqueue that would pass it closes the client with
// ErrSlowConsumer and drops what was queued, instead of blocking or growing.
//
// At most one writer runs at a time. The enqueue (or Close) that finds no
// writer running starts one by calling the wake function set with
// SetWake, or else by signalling Ready; the writer runs until Next finds
// nothing to do. So an idle client needs no goroutine at all.
type Client struct {
	wake  func()        // starts a writer; nil means signal ready instead
	ready chan struct{} // cap 1: signalled to start a writer when wake is nil
	done  chan struct{} // closed once, by Close

	mu sync.Mutex // protects the fields below
	q  []Message  // pending messages from head on
	// head indexes the oldest pending message in q.
	head    int
	bytes   int
	limit   int
	cause   error
	writing bool                // a writer has been started and has not yet found the queue empty
	syms    map[string]struct{} // symbols subscribed; used by Engine only
}

func newClient(limit int) *Client {
	return &Client{
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
		limit: limit,
		syms:  make(map[string]struct{}),
	}
}

// SetWake makes the client call wake, instead of signalling Ready, when a
// writer must start. wake must not block: a session passes a function that
// starts a goroutine. Call SetWake before the client is subscribed.
func (c *Client) SetWake(wake func()) { c.wake = wake }

// Enqueue queues m for the writer. It reports false if the client is closed,
// or closes it with ErrSlowConsumer when m would pass the byte limit.
func (c *Client) Enqueue(m Message) bool {
	ok, _, start := c.enqueue(m)
	if start {
		c.startWriter()
	}
	return ok
}

// enqueue is Enqueue that reports whether this call overflowed the queue,
// so the caller counts the drop exactly once, and leaves starting the
// writer (start) to the caller, so a shard can start each client's writer
// once per batch, after releasing its lock.
func (c *Client) enqueue(m Message) (ok, overflowed, start bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cause != nil {
		return false, false, false
	}
	if c.bytes+len(m.Data) > c.limit {
		return false, true, c.closeLocked(ErrSlowConsumer)
	}
	c.q = append(c.q, m)
	c.bytes += len(m.Data)
	return true, false, c.claimWriterLocked()
}

// claimWriterLocked marks a writer as running and reports whether the
// caller must start it.
func (c *Client) claimWriterLocked() bool {
	if c.writing {
		return false
	}
	c.writing = true
	return true
}

// startWriter starts a writer claimed by claimWriterLocked.
func (c *Client) startWriter() {
	if c.wake != nil {
		c.wake()
		return
	}
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// Next is Drain for the writer. When it takes nothing, the writer must
// stop: if the client is closed, Next reports closed and the caller, still
// the only writer, sends the close; otherwise the next enqueue starts a
// new writer.
func (c *Client) Next(dst []Message, maxBytes int) (batch []Message, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before := len(dst)
	dst = c.drainLocked(dst, maxBytes)
	if len(dst) > before {
		return dst, false
	}
	if c.cause != nil {
		return dst, true
	}
	c.writing = false
	return dst, false
}

// Drain appends pending messages to dst, oldest first, until the next one
// would take the total past maxBytes, counting one separator byte between
// messages (at least one is always taken), and removes them from the
// queue. The writer owns dst until its next Drain. A Drain that takes
// nothing ends the running writer, as Next does.
func (c *Client) Drain(dst []Message, maxBytes int) []Message {
	dst, _ = c.Next(dst, maxBytes)
	return dst
}

func (c *Client) drainLocked(dst []Message, maxBytes int) []Message {
	n, taken := 0, 0
	for c.head < len(c.q) {
		m := c.q[c.head]
		if taken > 0 && n+taken+len(m.Data) > maxBytes {
			break
		}
		n += len(m.Data)
		taken++
		dst = append(dst, m)
		c.q[c.head] = Message{} // let the shared bytes go once written
		c.head++
	}
	c.bytes -= n
	c.compactLocked()
	return dst
}

// compactLocked keeps q from growing behind a head that never catches up,
// and lets a burst's large backing array go once the queue is empty again.
func (c *Client) compactLocked() {
	switch {
	case c.head == len(c.q) && cap(c.q) > maxIdleQueueCap:
		c.q, c.head = nil, 0
	case c.head == len(c.q):
		c.q, c.head = c.q[:0], 0
	case c.head > cap(c.q)/2:
		n := copy(c.q, c.q[c.head:])
		clear(c.q[n:])
		c.q, c.head = c.q[:n], 0
	}
}

// maxIdleQueueCap is the largest backing array (in messages, 32 bytes
// each) an empty queue keeps: enough that a busy client does not regrow it
// after every drain, small enough that an idle one holds at most 8 KiB.
const maxIdleQueueCap = 256

// Ready is signalled, when no wake function is set, to start a writer: the
// receiver drains until Drain returns nothing, then waits on Ready again.
func (c *Client) Ready() <-chan struct{} { return c.ready }

// Done is closed when the client is closed; Cause then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Cause returns the error the client was closed with, or nil while open.
func (c *Client) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// Close closes the client with cause; later calls do nothing. Pending
// messages stay readable by Drain, and a writer is started if none runs,
// so that it can flush them and send the close.
func (c *Client) Close(cause error) {
	c.mu.Lock()
	start := c.closeLocked(cause)
	c.mu.Unlock()
	if start {
		c.startWriter()
	}
}

// closeLocked closes the client and reports whether the caller must start
// a writer. A slow consumer's queue is dropped at once: it will not be
// written, and it is the largest thing the client holds.
func (c *Client) closeLocked(cause error) (start bool) {
	if c.cause != nil {
		return false
	}
	if cause == nil {
		cause = errors.New("fanout: client closed")
	}
	c.cause = cause
	close(c.done)
	if errors.Is(cause, ErrSlowConsumer) {
		clear(c.q)
		c.q, c.head, c.bytes = nil, 0, 0
	}
	return c.claimWriterLocked()
}

// Len reports the number of pending messages and their bytes.
func (c *Client) Len() (msgs, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.q) - c.head, c.bytes
}
