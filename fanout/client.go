package fanout

import (
	"errors"
	"sync"
	"sync/atomic"
)

// ErrSlowConsumer is the close cause of a client whose queue overflowed.
var ErrSlowConsumer = errors.New("fanout: slow consumer")

// ErrPeerGone marks a close cause whose client will never read its queue
// (the peer left or broke the connection): Close drops the queue at once,
// as for ErrSlowConsumer. A cause matches it through errors.Is.
var ErrPeerGone = errors.New("fanout: peer gone")

// Client is one subscriber's bounded queue (queue.go). Shards and the
// session's reader enqueue; a writer drains with Next. A queue that passes
// its conflate mark keeps only the latest tick per subscription; one that
// passes its byte limit even so closes the client with ErrSlowConsumer and
// drops what was queued, instead of blocking or growing.
//
// At most one writer runs at a time. The enqueue (or Close) that finds no
// writer running starts one by calling the start function given to
// Engine.NewClient; the writer runs until Next finds nothing to do. So an
// idle client needs no goroutine at all.
type Client struct {
	start func(*Client) // starts a writer; must not block
	done  chan struct{} // closed once, by Close
	e     *Engine       // counts slow consumers and degraded clients

	// conflating mirrors q.conflating for Conflating, which takes no lock;
	// it is written under mu.
	conflating atomic.Bool

	mu      sync.Mutex // protects the fields below
	q       queue
	cause   error
	writing bool // a writer has been started and has not yet found the queue empty

	// subs is owned by the goroutine that calls Engine.Subscribe for this
	// client (the session reader); the shards reach subscriptions through
	// their own lists.
	subs map[*topic]*subscription
	// phase is the phase of every rate class this client subscribes in
	// (rate.go), fixed at NewClient.
	phase int
	// stale counts the subscriptions in subs that a shard dropped when it
	// retired their symbol (retire.go) and that Engine.prune has yet to
	// take out of subs.
	stale atomic.Int64
}

// Enqueue queues m (a reply or notice) for the writer. It reports false if
// the client is closed, or closes it with ErrSlowConsumer, counted, when m
// would pass the byte limit.
func (c *Client) Enqueue(m Message) bool {
	res, start := c.enqueue(m)
	if res == enqueueOverflowed {
		c.e.metrics.slowConsumers.Inc()
	}
	if start {
		c.startWriter()
	}
	return res == enqueueQueued || res == enqueueMerged
}

// enqueueResult is what enqueue did, for the caller to count once.
type enqueueResult uint8

const (
	enqueueClosed     enqueueResult = iota // the client was already closed
	enqueueQueued                          // appended
	enqueueMerged                          // conflated into a queued tick
	enqueueOverflowed                      // closed the client as a slow consumer
)

// enqueue is Enqueue that reports what happened, so the caller counts each
// outcome exactly once, and leaves starting the writer (start) to the
// caller, so a shard can start each client's writer once per batch, after
// releasing its lock.
func (c *Client) enqueue(m Message) (res enqueueResult, start bool) {
	c.mu.Lock()
	if q := &c.q; c.cause == nil && !q.conflating && q.bytes+len(m.Data) <= q.conflateAt {
		// The common case, kept short: a FIFO queue under its mark.
		q.q = append(q.q, m)
		q.bytes += len(m.Data)
		start = c.claimWriterLocked()
		c.mu.Unlock()
		return enqueueQueued, start
	}
	defer c.mu.Unlock()
	if c.cause != nil {
		return enqueueClosed, false
	}
	switch r, entered := c.q.push(m); r {
	case merged:
		return enqueueMerged, false // the queue is not empty: a writer runs
	case overflowed:
		return enqueueOverflowed, c.closeLocked(ErrSlowConsumer)
	default:
		if entered {
			c.enteredLocked()
		}
		return enqueueQueued, c.claimWriterLocked()
	}
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
func (c *Client) startWriter() { c.start(c) }

// Next appends pending messages to dst, oldest first, until the next one
// would take the total past maxBytes, counting one separator byte between
// messages (at least one is always taken). The writer owns dst until its
// next call. When Next takes nothing, the writer must stop: if the client
// is closed, Next reports closed and the caller, still the only writer,
// sends the close; otherwise the next enqueue starts a new writer.
func (c *Client) Next(dst []Message, maxBytes int) (batch []Message, closed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before := len(dst)
	dst = c.q.drain(dst, maxBytes)
	if len(dst) > before {
		return dst, false
	}
	if c.cause != nil {
		return dst, true
	}
	c.writing = false
	return dst, false
}

// Done is closed when the client is closed; Cause then says why.
func (c *Client) Done() <-chan struct{} { return c.done }

// Cause returns the error the client was closed with, or nil while open.
func (c *Client) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// Close closes the client with cause; later calls do nothing. Pending
// messages stay readable by Next, and a writer is started if none runs,
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
// a writer. A slow consumer's queue, or a gone peer's, is dropped at once:
// it will not be written, and it is the largest thing the client holds.
func (c *Client) closeLocked(cause error) (start bool) {
	if c.cause != nil {
		return false
	}
	if cause == nil {
		cause = errors.New("fanout: client closed")
	}
	c.cause = cause
	close(c.done)
	if c.q.conflating {
		c.q.conflating = false
		c.leftLocked()
	}
	if errors.Is(cause, ErrSlowConsumer) || errors.Is(cause, ErrPeerGone) {
		c.q.reset()
	}
	return c.claimWriterLocked()
}

// Len reports the number of pending messages and their bytes.
func (c *Client) Len() (msgs, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.len(), c.q.bytes
}
