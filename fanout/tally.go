package fanout

// tally counts what a batch of enqueues did and collects the clients whose
// writers must start once the shard lock is released.
type tally struct {
	enqueued, merged, slow int
	rateConflated          int
	delayConflated         int
	recovered, fallbacks   int
	bars, lateTicks        [numStreams]int // per bar stream
	start                  []*Client       // reused across batches; grows only
}

// send queues m, a message of sub's topic, to sub's client.
func (t *tally) send(sub *subscription, m Message) { t.queue(sub.c, &sub.live, m) }

// queue queues m to c, to be merged by key while c's queue conflates.
func (t *tally) queue(c *Client, key *mergeKey, m Message) {
	m.key = key
	res, start := c.enqueue(m)
	switch res {
	case enqueueQueued:
		t.enqueued++
	case enqueueMerged:
		t.merged++
	case enqueueOverflowed:
		t.slow++
	}
	if start {
		t.start = append(t.start, c)
	}
}

// reply queues m, a reply, to c; it is not a tick and is not counted as one.
func (t *tally) reply(c *Client, m Message) {
	res, start := c.enqueue(m)
	if res == enqueueOverflowed {
		t.slow++
	}
	if start {
		t.start = append(t.start, c)
	}
}

func (t *tally) startWriters() {
	for _, c := range t.start {
		c.startWriter()
	}
}

func (t *tally) reset() {
	clear(t.start)
	*t = tally{start: t.start[:0]}
}
