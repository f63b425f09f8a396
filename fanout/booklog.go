package fanout

// bookLog is a book topic's message bytes. A book message varies in size
// (the levels it changed), so unlike a tick or bar it is not made again
// from a fixed-size record: each is encoded once into the log, its record
// (topic.kept) names where by a liveRef (its gen counting the log's
// blocks), and live subscribers get the same bytes. The log lets its
// blocks go, oldest first, as soon as no kept record names them (trim),
// so it holds about what the book's records cover; the blocks it holds
// are counted under the memory budget as books. shard.mu protects it.
type bookLog struct {
	blocks [][]byte // oldest first; blocks[i]'s gen is base+i; the last is the one appended to
	base   uint64   // the gen of blocks[0]; gens count from 1
	mark   int      // where the message being encoded starts in the last block
	bytes  int64    // the blocks' capacity, as the budget counts it
}

const (
	minBookBlock = 512      // a quiet book pins little
	maxBookBlock = 32 << 10 // blocks double up to this, as the book's traffic needs
)

// start returns the last block with room for a message of up to room
// bytes, to append it to; cut then takes it out. A new block is counted
// under the shard's budget as tp's; if it does not fit, even by
// releasing the history of topics less recently subscribed than tp, tp's
// own history goes (its records and blocks) and start reports false: the
// message is not kept. The caller holds shard.mu.
func (lg *bookLog) start(s *shard, tp *topic, room int) ([]byte, bool) {
	if n := len(lg.blocks); n > 0 {
		last := lg.blocks[n-1]
		if begin := (len(last) + 7) &^ 7; begin+room <= cap(last) {
			lg.mark = begin
			return last[:begin], true
		}
	}
	size := minBookBlock
	if n := len(lg.blocks); n > 0 {
		size = min(2*cap(lg.blocks[n-1]), maxBookBlock)
	}
	size = max(size, room)
	if b := &s.budget; !b.fits(&s.t, int64(size), tp.recency) {
		b.shrink(&s.t, tp, 0)
		return nil, false
	}
	lg.base = max(lg.base, 1)
	lg.blocks = append(lg.blocks, make([]byte, 0, size))
	lg.bytes += int64(size)
	s.budget.add(keptBooks, int64(size))
	lg.mark = 0
	return lg.blocks[len(lg.blocks)-1][:0], true
}

// cut takes the message appended to start's slice out of the last block,
// capped at its own length, and says where it is.
func (lg *bookLog) cut(buf []byte) ([]byte, liveRef) {
	n := len(lg.blocks)
	lg.blocks[n-1] = buf
	gen := lg.base + uint64(n-1)
	return buf[lg.mark:len(buf):len(buf)], liveRef{gen: gen, off: uint32(lg.mark), n: uint32(len(buf) - lg.mark)}
}

// resolve returns the bytes r names, if its block is still held.
func (lg *bookLog) resolve(r liveRef) ([]byte, bool) {
	if r.gen < lg.base || r.gen-lg.base >= uint64(len(lg.blocks)) {
		return nil, false
	}
	block := lg.blocks[r.gen-lg.base]
	end := int(r.off + r.n)
	return block[r.off:end:end], true
}

// trim lets go of the blocks older than oldest's (every block but the
// last one, with no record left), giving their bytes back to b. Queues
// that hold a message of a block let go keep it until they are drained.
func (lg *bookLog) trim(b *budget, oldest *record) {
	keep := uint64(len(lg.blocks)) // how many of the newest blocks stay
	if oldest != nil && oldest.live.gen >= lg.base {
		keep = uint64(len(lg.blocks)) - (oldest.live.gen - lg.base)
	} else if oldest == nil {
		keep = min(keep, 1)
	}
	drop := len(lg.blocks) - int(keep)
	if drop <= 0 {
		return
	}
	for i := range drop {
		lg.bytes -= int64(cap(lg.blocks[i]))
		b.add(keptBooks, -int64(cap(lg.blocks[i])))
		lg.blocks[i] = nil
	}
	lg.blocks = append(lg.blocks[:0], lg.blocks[drop:]...)
	lg.base += uint64(drop)
}

// release lets go of every block, for a topic the budget let go of.
func (lg *bookLog) release(b *budget) {
	b.add(keptBooks, -lg.bytes)
	clear(lg.blocks)
	lg.base += uint64(len(lg.blocks))
	lg.blocks, lg.bytes = lg.blocks[:0], 0
}
