package fanout

import (
	"context"
	"sync"

	"github.com/tickgate/tickgate/feed"
)

// maxBatch caps the ticks a shard takes per lock hold, so Subscribe waits
// at most one batch for the shard lock.
const maxBatch = 256

// arenaChunk is the size of the blocks encoded ticks are cut from.
const arenaChunk = 32 << 10

type inTick struct {
	sym  *symbol
	tick feed.Tick
}

// shard owns a subset of the symbols: their subscriber sets and last ticks.
// Its goroutine is the only one that encodes ticks; sessions take mu only to
// change subscriptions.
type shard struct {
	in      chan inTick
	metrics *metrics

	// start lists the clients whose writers deliver must start once it has
	// released mu; reused across batches, so it allocates only to grow.
	start []*Client

	// arena is written only by the shard goroutine. Encoded ticks are cut
	// from it and handed out as immutable slices; a block is never reused,
	// the garbage collector frees it once no queue holds a slice of it.
	arena []byte

	mu sync.Mutex // protects the symbol fields marked "shard.mu"
}

// symbol is one symbol's state inside its shard.
type symbol struct {
	name  string
	shard *shard

	// shard.mu
	last feed.Tick
	subs []*Client
	idx  map[*Client]int // position of each client in subs
}

func newShard(inbox int) *shard {
	return &shard{in: make(chan inTick, inbox)}
}

// run takes one tick with a blocking receive, then whatever else is ready
// up to maxBatch, and delivers the batch under one lock hold.
func (s *shard) run(ctx context.Context) {
	batch := make([]inTick, 0, maxBatch)
	for {
		select {
		case t := <-s.in:
			batch = append(batch[:0], t)
		case <-ctx.Done():
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case t := <-s.in:
				batch = append(batch, t)
			default:
				break drain
			}
		}
		s.deliver(batch)
		clear(batch) // drop the symbol pointers and strings until reuse
	}
}

// deliver encodes each tick once and queues the same bytes for every
// subscriber. Writers are started after the whole batch is queued, so a
// client that gets several ticks of the batch writes them in one frame.
// Counts are kept in locals and published once per batch.
func (s *shard) deliver(batch []inTick) {
	var enqueued, slow, stale int
	s.mu.Lock()
	for i := range batch {
		sym, t := batch[i].sym, &batch[i].tick
		if t.Seq <= sym.last.Seq {
			stale++ // a replayed or reordered tick would repeat a seq
			continue
		}
		sym.last = *t
		m := Message{Data: s.encode(t), TS: t.TS}
		for _, c := range sym.subs {
			ok, overflowed, start := c.enqueue(m)
			if ok {
				enqueued++
			} else if overflowed {
				slow++
			}
			if start {
				s.start = append(s.start, c)
			}
		}
	}
	s.mu.Unlock()
	for _, c := range s.start {
		c.startWriter()
	}
	clear(s.start)
	s.start = s.start[:0]
	s.metrics.batch(len(batch), enqueued, slow, stale)
}

// encode appends t's wire form to the arena and returns it as a slice
// capped at its own length, so no append through it can reach a neighbour.
// Each message starts on an 8-byte boundary so a reader of one message
// never shares a word with the shard writing the next.
func (s *shard) encode(t *feed.Tick) []byte {
	start := (len(s.arena) + 7) &^ 7
	if start+256 > cap(s.arena) {
		s.arena = make([]byte, 0, arenaChunk)
		start = 0
	}
	s.arena = t.AppendJSON(s.arena[:start])
	return s.arena[start:len(s.arena):len(s.arena)]
}

// add subscribes c and queues the symbol's snapshot, atomically with
// respect to deliver.
func (sym *symbol) add(c *Client) {
	sh := sym.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sym.idx == nil {
		sym.idx = make(map[*Client]int)
	}
	sym.idx[c] = len(sym.subs)
	sym.subs = append(sym.subs, c)
	if sym.last.Seq == 0 {
		return
	}
	// A snapshot carries no TS: its age is not delivery latency.
	snap := sym.last.AppendJSON(make([]byte, 0, 160))
	_, overflowed, start := c.enqueue(Message{Data: snap})
	if overflowed {
		sh.metrics.slowConsumers.Inc()
	}
	if start {
		c.startWriter() // under shard.mu: subscribes are rare, wake does not block
	}
}

// remove unsubscribes c by moving the last subscriber into its place.
func (sym *symbol) remove(c *Client) {
	sh := sym.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sym.idx[c]
	if !ok {
		return
	}
	last := len(sym.subs) - 1
	moved := sym.subs[last]
	sym.subs[i] = moved
	sym.idx[moved] = i
	sym.subs[last] = nil
	sym.subs = sym.subs[:last]
	delete(sym.idx, c)
}
