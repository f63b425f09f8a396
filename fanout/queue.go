package fanout

import "strconv"

// Message is one queued protocol message. Data is shared and immutable: the
// same slice may sit in thousands of queues, so nobody may write to it after
// it is queued. TS is the feed timestamp of a live tick (Unix ns); it is 0
// for replies, notices and snapshots, whose age is not delivery latency.
// N is how many feed ticks a conflated tick (or how many bar seqs a final
// bar) stands for; 0 and 1 both mean one. It lives beside Data, not in it,
// so conflation never re-encodes: AppendTo writes it into the frame.
type Message struct {
	Data []byte
	TS   int64
	N    int64

	// key is what a conflating queue merges this message by: one of its
	// subscription's mergeKeys; nil for replies and notices, which are
	// never conflated away.
	key *mergeKey
}

// AppendTo appends m's wire form to dst: Data, with its count spliced in
// before its closing brace when N > 1: `,"n":N` on a tick, `,"span":N` on a
// final bar (whose "n" is its trade count), nothing on a partial bar. It
// allocates only when dst grows.
func (m *Message) AppendTo(dst []byte) []byte {
	key := m.countKey()
	if key == "" {
		return append(dst, m.Data...)
	}
	dst = append(dst, m.Data[:len(m.Data)-1]...)
	dst = append(dst, key...)
	dst = strconv.AppendInt(dst, m.N, 10)
	return append(dst, '}')
}

// countKey is what AppendTo splices before m's count; "" for none.
func (m *Message) countKey() string {
	if m.N <= 1 || len(m.Data) == 0 {
		return ""
	}
	if m.key != nil {
		return countKeys[m.key.kind]
	}
	return countKeys[tickSub]
}

var countKeys = [...]string{tickSub: `,"n":`, barSub: `,"span":`, progressSub: "", bookSub: `,"n":`, statusSub: "", noticeSub: "", catchUpSub: `,"n":`}

// wireLen is the length of m's wire form (AppendTo).
func (m *Message) wireLen() int {
	key := m.countKey()
	if key == "" {
		return len(m.Data)
	}
	digits := 1
	for n := m.N; n >= 10; n /= 10 {
		digits++
	}
	return len(m.Data) + len(key) + digits
}

// count is the number of feed ticks m stands for.
func (m *Message) count() int64 { return max(m.N, 1) }

// Notices the queue itself sends when it changes mode (docs/protocol.md).
var (
	noticeConflated = []byte(`{"type":"notice","code":"conflated","msg":"you fell behind: each symbol now carries its latest tick only, with n counting the ticks it stands for"}`)
	noticeLive      = []byte(`{"type":"notice","code":"live"}`)
)

// queue is one client's bounded message queue. It is FIFO until it is
// switched to conflating (enter, mode.go): by itself when its bytes pass
// conflateAt, or by its writer's staleness rule. Then a tick whose merge
// key (its subscription's, mergeKey) already has a tick queued (after the
// switch) replaces it in place, adding up N, so the queue holds at most one
// tick per key plus replies. A book update merges instead, by price level,
// into its key's span (bookspan.go): the entry's Data is nil until a
// drain encodes the span, once, however many updates it took in. Only the
// writer switches it back (leave). The caller (Client) holds the lock.
type queue struct {
	q    []Message // pending messages from head on
	head int       // index of the oldest pending message in q
	base uint64    // absolute position of q[0]; positions never repeat

	bytes      int
	limit      int // bytes; passing it overflows the queue
	conflateAt int // bytes at which FIFO switches to conflating
	lowWater   int // bytes under which conflating may switch back

	conflating bool
	// from is the first position that may be replaced while conflating:
	// the one after the conflated notice, so the client sees the notice
	// before any tick with n.
	from uint64
	// scratch holds the merged book updates the last drain encoded: the
	// writer owns them until its next Next, which reuses it.
	scratch []byte
}

// pushResult says what push did with a message.
type pushResult uint8

const (
	pushed     pushResult = iota // appended
	merged                       // replaced its subscription's queued tick
	overflowed                   // would pass the limit; nothing changed
)

// push queues m, conflating if the queue is in that mode. It reports
// entered when this push switched the queue to conflating.
func (q *queue) push(m Message) (res pushResult, entered bool) {
	if m.key != nil && m.key.kind.barrier() {
		return q.pushNotice(m), false
	}
	if q.conflating && m.key != nil && q.replace(m) {
		return merged, false
	}
	if q.bytes+len(m.Data) > q.limit {
		return overflowed, false
	}
	q.append(m)
	if !q.conflating && q.bytes > q.conflateAt {
		q.enter()
		return pushed, true
	}
	return pushed, false
}

// pushNotice queues m, a topic's notice, as a barrier: while conflating,
// no message queued before it may be replaced any more, so a tick sent
// after the notice (the new run's, the one after a gap) is never merged
// into a place ahead of it.
func (q *queue) pushNotice(m Message) pushResult {
	if q.bytes+len(m.Data) > q.limit {
		return overflowed
	}
	m.key = nil
	q.append(m)
	if q.conflating {
		q.from = q.base + uint64(len(q.q))
	}
	return pushed
}

// append queues m. While conflating it records m's position in its merge
// key for replace, and on a book starts the key's span with m's; a FIFO
// queue never replaces, so it leaves the key untouched.
func (q *queue) append(m Message) {
	if q.conflating && m.key != nil {
		if m.key.kind == bookSub {
			q.settle(m.key)
			m.key.startSpan()
		}
		m.key.queued = q.base + uint64(len(q.q))
	}
	q.q = append(q.q, m)
	q.bytes += len(m.Data)
}

// settle encodes the merged book update key's queued entry stands for,
// if it is still queued unencoded, before key's span starts again for a
// later entry (past a barrier, or in a later spell of conflation).
func (q *queue) settle(key *mergeKey) {
	pos := key.queued
	if pos < q.base+uint64(q.head) || pos >= q.base+uint64(len(q.q)) {
		return
	}
	if e := &q.q[pos-q.base]; e.key == key && e.Data == nil {
		e.Data = key.appendSpan(nil)
		q.bytes += len(e.Data) - key.spanBytes
	}
}

// size is what m counts for in the queue's bytes: a merged book update
// not encoded yet counts as its span's bound.
func (m *Message) size() int {
	if m.Data == nil && m.key != nil {
		return m.key.spanBytes
	}
	return len(m.Data)
}

// replace merges m into the pending message of its merge key, if that was
// queued after the switch to conflating and is still pending.
func (q *queue) replace(m Message) bool {
	pos := m.key.queued
	if pos < q.from || pos < q.base+uint64(q.head) {
		return false
	}
	old := &q.q[pos-q.base]
	if old.key != m.key {
		return false
	}
	before := old.size()
	if m.key.kind == bookSub { // merged per price level, not replaced; encoded when drained
		m.key.mergeSpan()
		m.Data = nil
	}
	q.bytes += m.size() - before
	m.N = old.count() + m.count()
	*old = m
	return true
}

// drain appends pending messages to dst, oldest first, until the next one
// would take their wire length past maxBytes, counting one separator byte between
// messages (at least one is always taken). Merged book updates are
// encoded into scratch as they are taken.
func (q *queue) drain(dst []Message, maxBytes int) []Message {
	q.scratch = q.scratch[:0]
	n, wire, taken := 0, 0, 0
	for q.head < len(q.q) {
		m := q.q[q.head]
		// A merged book update, not encoded yet, counts as its span's
		// bound and its count's.
		size, mwire := m.size(), m.wireLen()
		span := m.Data == nil && m.key != nil
		if span {
			mwire = size + len(countKeys[bookSub]) + 20
		}
		if taken > 0 && wire+taken+mwire > maxBytes {
			break
		}
		if span {
			start := len(q.scratch)
			q.scratch = m.key.appendSpan(q.scratch)
			m.Data = q.scratch[start:len(q.scratch):len(q.scratch)]
		}
		n += size
		wire += mwire
		taken++
		dst = append(dst, m)
		q.q[q.head] = Message{} // let the shared bytes go once written
		q.head++
	}
	q.bytes -= n
	q.compact()
	return dst
}

// compact keeps q from growing behind a head that never catches up, and
// lets a burst's large backing array go once the queue is empty again.
func (q *queue) compact() {
	switch {
	case q.head == len(q.q) && cap(q.q) > maxIdleQueueCap:
		q.base += uint64(q.head)
		q.q, q.head = nil, 0
	case q.head == len(q.q):
		q.base += uint64(q.head)
		q.q, q.head = q.q[:0], 0
	case q.head > cap(q.q)/2:
		n := copy(q.q, q.q[q.head:])
		clear(q.q[n:])
		q.base += uint64(q.head)
		q.q, q.head = q.q[:n], 0
	}
}

// maxIdleQueueCap is the largest backing array (in messages, 48 bytes
// each) an empty queue keeps: enough that a busy client does not regrow it
// after every drain, small enough that an idle one holds at most 12 KiB.
const maxIdleQueueCap = 256

// reset drops everything queued, for a client that will not be written to.
func (q *queue) reset() {
	clear(q.q)
	q.base += uint64(len(q.q))
	q.q, q.head, q.bytes = nil, 0, 0
}

// len reports the number of pending messages.
func (q *queue) len() int { return len(q.q) - q.head }
