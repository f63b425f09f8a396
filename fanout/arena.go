package fanout

// arena is a shard's live message bytes: every tick, bar and notice the
// shard encodes is appended to its current block and handed out as a
// slice capped at its own length. Nobody writes to a message after that;
// the same bytes sit in every subscriber's queue. Only the shard goroutine
// (or a session holding shard.mu, for a catch-up) appends. A block is never
// reused: the garbage collector frees it once no queue or rate class holds
// a slice of it. The engine itself keeps no slice of the arena: what it
// keeps (snapshots, history) is records (ring.go), and a record names
// where its bytes last were by a liveRef, which resolves only while that
// block is the current one or the one before. So a quiet symbol pins no
// block, and the arena costs the engine two blocks per shard.
type arena struct {
	buf  []byte // the current block
	prev []byte // the block before buf
	gen  uint64 // buf's generation, counted from 1; prev's is gen-1
	mark int    // where the message being encoded starts in buf
}

// liveRef is where a kept message's bytes were cut from the arena: block
// generation, offset and length. The zero liveRef resolves to nothing.
type liveRef struct {
	gen    uint64
	off, n uint32
}

const (
	arenaChunk  = 32 << 10 // bytes per block: one allocation per ~270 ticks
	maxMsgBytes = 384      // headroom start keeps for one tick or bar, all marks included
)

// start returns the current block, with room for one message, to append a
// message to; cut then takes it out. Each message starts on an 8-byte
// boundary so a reader of one message never shares a word with the shard
// writing the next.
func (a *arena) start() []byte { return a.startFor(maxMsgBytes) }

// startFor is start for a message of up to room bytes (a book's).
func (a *arena) startFor(room int) []byte {
	begin := (len(a.buf) + 7) &^ 7
	if begin+room > cap(a.buf) {
		a.renewFor(room)
		begin = 0
	}
	a.mark = begin
	return a.buf[:begin]
}

// renew starts a new block; the current one becomes the one before.
func (a *arena) renew() { a.renewFor(0) }

// renewFor is renew with room for a message of room bytes.
func (a *arena) renewFor(room int) {
	a.prev, a.buf = a.buf, make([]byte, 0, max(arenaChunk, room))
	a.gen++
}

// cut takes the message appended to start's slice out of the arena,
// capped at its own length so no append through it can reach a
// neighbour, and says where it is.
func (a *arena) cut(b []byte) ([]byte, liveRef) {
	a.buf = b
	return b[a.mark:len(b):len(b)], liveRef{gen: a.gen, off: uint32(a.mark), n: uint32(len(b) - a.mark)}
}

// resolve returns the bytes r names if its block is still the current one
// or the one before.
func (a *arena) resolve(r liveRef) ([]byte, bool) {
	var block []byte
	switch {
	case r.gen == 0:
		return nil, false
	case r.gen == a.gen:
		block = a.buf
	case r.gen+1 == a.gen:
		block = a.prev
	default:
		return nil, false
	}
	end := int(r.off + r.n)
	return block[r.off:end:end], true
}
