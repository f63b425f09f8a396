package fanout

// A client's queue is FIFO or conflating (queue.go). What merging does in
// the conflating mode is the queue's (merge keys); when the mode changes is
// decided in two places. The queue enters it by itself when its bytes pass
// Config.ConflateAt, the memory bound. The client's writer, which alone
// sees how fast the link drains, enters it when the client is behind by
// its measure (Conflate) and is the only one that leaves it (Live), once
// the client has kept up for a while: a queue that left by itself each
// time a drain emptied it flipped between the two notices several times a
// minute on a slow link.

// enter switches q to conflating: it queues the conflated notice, and only
// ticks queued after it may be replaced, so the client sees the notice
// before any tick with n.
func (q *queue) enter() {
	q.conflating = true
	q.append(Message{Data: noticeConflated})
	q.from = q.base + uint64(len(q.q))
}

// leave switches q back to FIFO and queues the live notice. A FIFO queue
// merges no book updates, so it lets go of scratch: the writer's batch
// keeps what it needs of it.
func (q *queue) leave() {
	q.conflating = false
	q.append(Message{Data: noticeLive})
	q.scratch = nil
}

// Conflating reports whether c's queue conflates: from its conflated
// notice until its live one. It takes no lock, so a writer may ask after
// every frame.
func (c *Client) Conflating() bool { return c.conflating.Load() }

// Conflate switches c's queue to conflating, as passing Config.ConflateAt
// does, unless it conflates already, is closed, or conflation is off
// (ConflateAt at QueueBytes). The writer calls it when the client is
// behind by its own measure.
func (c *Client) Conflate() {
	c.mu.Lock()
	if c.cause != nil || c.q.conflating || c.q.conflateAt >= c.q.limit {
		c.mu.Unlock()
		return
	}
	c.q.enter()
	c.enteredLocked()
	c.unlockWriting()
}

// Live switches a conflating queue back to FIFO, queuing the live notice,
// if it holds less than a quarter of Config.ConflateAt; it reports
// whether the queue is FIFO on return. The writer calls it once the
// client has kept up for as long as its rule asks.
func (c *Client) Live() bool {
	c.mu.Lock()
	if !c.q.conflating || c.cause != nil || c.q.bytes >= c.q.lowWater {
		fifo := !c.q.conflating
		c.mu.Unlock()
		return fifo
	}
	c.q.leave()
	c.leftLocked()
	c.unlockWriting()
	return true
}

// unlockWriting releases c.mu, which the caller holds, after a notice was
// queued, and starts a writer for it if none runs.
func (c *Client) unlockWriting() {
	start := c.claimWriterLocked()
	c.mu.Unlock()
	if start {
		c.startWriter()
	}
}

// enteredLocked counts c's queue as conflating, once it has switched.
func (c *Client) enteredLocked() {
	c.conflating.Store(true)
	c.e.degraded.Add(1)
}

// leftLocked counts c's queue as FIFO again, once it has switched.
func (c *Client) leftLocked() {
	c.conflating.Store(false)
	c.e.degraded.Add(-1)
}
