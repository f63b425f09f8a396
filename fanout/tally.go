package fanout

// tally counts what a batch of enqueues did and collects the clients whose
// writers must start once the shard lock is released.
type tally struct {
	enqueued, merged, slow int
	rateConflated          int
	delayConflated         int
	recovered, fallbacks   int
	conflicts              int                               // ticks of a retired epoch dropped
	conflictLog            []conflict                        // conflicts to log after the lock; reused
	depth                  [numDepthKinds]int                // books and statuses taken from the feed
	depthDrops             [numDepthKinds][numDepthDrops]int // books and statuses dropped, by reason
	badLog                 []badBook                         // bad books to log after the lock; reused
	bars, lateTicks        [barStreams]int                   // per bar stream
	evicted, evictedBytes  [numKinds]int64                   // records the memory budget released, and their bytes
	start                  []*Client                         // reused across batches; grows only
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

// notice queues data, a notice about one topic, to c: like a reply, and a
// barrier in a conflating queue, so no later tick of the topic merges into
// one queued before it.
func (t *tally) notice(c *Client, data []byte) { t.reply(c, Message{Data: data, key: &noticeKey}) }

func (t *tally) startWriters() {
	for _, c := range t.start {
		c.startWriter()
	}
}

func (t *tally) reset() {
	clear(t.start)
	clear(t.conflictLog)
	clear(t.badLog)
	*t = tally{start: t.start[:0], conflictLog: t.conflictLog[:0], badLog: t.badLog[:0]}
}
