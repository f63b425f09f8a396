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
// enqueue; the session's writer drains. A queue holds at most its byte limit
// of messages; the enqueue that would pass it closes the client with
// ErrSlowConsumer instead of blocking or growing.
type Client struct {
	ready chan struct{} // cap 1: signalled when the queue turns non-empty
	done  chan struct{} // closed once, by Close

	mu sync.Mutex // protects the fields below
	q  []Message  // pending messages from head on
	// head indexes the oldest pending message in q.
	head  int
	bytes int
	limit int
	cause error
	syms  map[string]struct{} // symbols subscribed; used by Engine only
}

func newClient(limit int) *Client {
	return &Client{
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
		limit: limit,
		syms:  make(map[string]struct{}),
	}
}

// Enqueue queues m for the writer. It reports false if the client is closed,
// or closes it with ErrSlowConsumer when m would pass the byte limit.
func (c *Client) Enqueue(m Message) bool {
	ok, _ := c.enqueue(m)
	return ok
}

// enqueue is Enqueue that also reports whether this call overflowed the
// queue, so the caller can count the drop exactly once.
func (c *Client) enqueue(m Message) (ok, overflowed bool) {
	c.mu.Lock()
	if c.cause != nil {
		c.mu.Unlock()
		return false, false
	}
	if c.bytes+len(m.Data) > c.limit {
		c.closeLocked(ErrSlowConsumer)
		c.mu.Unlock()
		return false, true
	}
	wasEmpty := len(c.q) == c.head
	c.q = append(c.q, m)
	c.bytes += len(m.Data)
	c.mu.Unlock()
	if wasEmpty {
		select {
		case c.ready <- struct{}{}:
		default:
		}
	}
	return true, false
}

// Drain appends pending messages to dst, oldest first, until the next one
// would take the total past maxBytes, counting one separator byte between
// messages (at least one is always taken), and removes them from the
// queue. The writer owns dst until its next Drain.
func (c *Client) Drain(dst []Message, maxBytes int) []Message {
	c.mu.Lock()
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
	c.mu.Unlock()
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

// Ready is signalled when the queue turns from empty to non-empty. The
// writer waits on it, then drains until Drain returns nothing.
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
// messages stay readable by Drain.
func (c *Client) Close(cause error) {
	c.mu.Lock()
	c.closeLocked(cause)
	c.mu.Unlock()
}

func (c *Client) closeLocked(cause error) {
	if c.cause != nil {
		return
	}
	if cause == nil {
		cause = errors.New("fanout: client closed")
	}
	c.cause = cause
	close(c.done)
}

// Len reports the number of pending messages and their bytes.
func (c *Client) Len() (msgs, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.q) - c.head, c.bytes
}
