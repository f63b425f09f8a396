package subscribe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
)

// Event ids. Every event of a /sse stream carries, as its id, the
// position of each of its symbols after that event: what a client that
// read every message so far would send as "since". EventSource sends the
// last one back as Last-Event-ID when it reconnects, and the gateway
// answers it exactly as it answers since: recovered, or a snapshot. The
// form (docs/protocol.md) is tokens separated by ',': "@<epoch>" sets the
// epoch of the positions after it, "<symbol>:<seq>" is one position:
//
//	@k3x9f0a1b2c4,AAPL:1041,MSFT:77
//
// A symbol without a position yet (no message of it written) is left
// out; a reconnect gives it a snapshot, as any symbol not in since.

// maxEventIDBytes bounds an id, so that Last-Event-ID passes proxies
// that cap a header line at 8 KiB (nginx's large_client_header_buffers)
// with room for the rest of the request. Positions past it are left out,
// from the last subscribed; those symbols get a snapshot on reconnect. A
// Last-Event-ID longer than it is refused (431).
const maxEventIDBytes = 4096

// errEventIDTooLong refuses an id over maxEventIDBytes.
var errEventIDTooLong = fmt.Errorf("subscribe: event id longer than %d bytes", maxEventIDBytes)

// parseEventID reads an id of the form above into since positions. An
// empty id names none.
func parseEventID(id string) (map[string]fanout.Position, error) {
	if id == "" {
		return nil, nil
	}
	if len(id) > maxEventIDBytes {
		return nil, errEventIDTooLong
	}
	since := make(map[string]fanout.Position)
	epoch := ""
	for tok := range strings.SplitSeq(id, ",") {
		if ep, ok := strings.CutPrefix(tok, "@"); ok {
			if !feed.ValidEpoch(ep) {
				return nil, fmt.Errorf("bad epoch %q: 1 to 32 of A-Z a-z 0-9 _ -", truncate(ep, 40))
			}
			epoch = ep
			continue
		}
		sym, seqText, ok := strings.Cut(tok, ":")
		seq, err := strconv.ParseUint(seqText, 10, 64)
		switch {
		case !ok || err != nil || !feed.ValidSymbol(sym):
			return nil, fmt.Errorf("bad position %q: want <symbol>:<seq>", truncate(tok, 40))
		case epoch == "":
			return nil, fmt.Errorf("position %q before any @<epoch>", truncate(tok, 40))
		}
		if _, dup := since[sym]; dup {
			return nil, fmt.Errorf("%s named twice", sym)
		}
		since[sym] = fanout.Position{Seq: seq, Epoch: epoch}
	}
	return since, nil
}

// positions follows an event stream's symbols through the messages its
// writer writes, as a client keeps its last seq and epoch per symbol
// (docs/protocol.md), to write each event's id. It reads the messages'
// wire form, which is the protocol's contract: a tick's, final bar's or
// book message's seq, the epoch a subscribed reply names, a reset or
// epoch notice's new epoch. Only the session's running writer uses it.
type positions struct {
	list  []position     // subscription order: the order ids list them in
	index map[string]int // symbol to list index
	last  int            // the list index found last: a batch often holds one symbol's run
}

// position is one symbol's place in its stream.
type position struct {
	sym string
	run string          // the epoch the symbol's next message belongs to; "" until told
	at  fanout.Position // the last position written, if known
	// text is at's ",<symbol>:<seq>", written by the first id after at
	// changed (stale says it must be), so an id copies each position
	// rather than formatting every one, and a run of one symbol's ticks
	// in a batch is formatted once. Its capacity holds any seq, so it
	// never grows.
	text         []byte
	known, stale bool
}

// newPositions follows syms, the stream's subscribed symbols, from since,
// the positions the client came back with.
func newPositions(syms []string, since map[string]fanout.Position) positions {
	p := positions{list: make([]position, len(syms)), index: make(map[string]int, len(syms))}
	size := 0
	for _, sym := range syms {
		size += len(sym) + 2 + maxSeqDigits
	}
	texts := make([]byte, size) // one allocation for every position's text
	for i, sym := range syms {
		p.index[sym] = i
		e := &p.list[i]
		n := len(sym) + 2 + maxSeqDigits
		e.sym, e.text, texts = sym, texts[:0:n], texts[n:]
		if at, ok := since[sym]; ok {
			e.set(at)
		}
	}
	return p
}

// maxSeqDigits is the most digits a seq (a uint64) has.
const maxSeqDigits = 20

// set makes at e's position.
func (e *position) set(at fanout.Position) {
	e.at, e.known, e.stale = at, true, true
}

// format writes e's text for its position.
func (e *position) format() {
	e.text = strconv.AppendUint(append(append(append(e.text[:0], ','), e.sym...), ':'), e.at.Seq, 10)
	e.stale = false
}

// Wire forms positions reads (feed.Tick.AppendJSON, fanout's bars and
// notices, encodeReply).
var (
	tickStart       = []byte(`{"type":"tick","sym":"`) // then the symbol, `",` and seqKey's field
	barStart        = []byte(`{"type":"bar",`)
	bookStart       = []byte(`{"type":"book`) // a snapshot ("book") or an update ("book_update")
	noticeStart     = []byte(`{"type":"notice","code":"`)
	subscribedStart = []byte(`{"type":"subscribed",`)
	symKey          = []byte(`"sym":"`)
	seqKey          = []byte(`,"seq":`)
	epochKey        = []byte(`"epoch":"`)
	partialMark     = []byte(`"partial":true`)
)

// follow moves the positions past batch, about to be written.
func (p *positions) follow(batch []fanout.Message) {
	for i := range batch {
		p.follow1(batch[i].Data)
	}
}

// follow1 moves the positions past one message.
func (p *positions) follow1(m []byte) {
	switch {
	case bytes.HasPrefix(m, tickStart):
		// Every delivery passes here: the fixed layout is read in place,
		// without searching for each key as for the rarer messages.
		sym := m[len(tickStart):]
		if q := bytes.IndexByte(sym, '"'); q > 0 && bytes.HasPrefix(sym[q+1:], seqKey) {
			p.advance(sym[:q], digits(sym[q+1+len(seqKey):]))
		}
	case bytes.HasPrefix(m, barStart):
		if !bytes.Contains(m, partialMark) { // partial bars are no position
			p.advance(field(m, symKey, '"'), field(m, seqKey, ','))
		}
	case bytes.HasPrefix(m, bookStart):
		p.advance(field(m, symKey, '"'), field(m, seqKey, ','))
	case bytes.HasPrefix(m, noticeStart):
		code := m[len(noticeStart):]
		if bytes.HasPrefix(code, []byte(`reset"`)) || bytes.HasPrefix(code, []byte(`epoch"`)) {
			p.restart(field(m, symKey, '"'), field(m, epochKey, '"'))
		}
	case bytes.HasPrefix(m, subscribedStart):
		var r struct {
			Epochs map[string]string `json:"epochs"`
		}
		json.Unmarshal(m, &r) // the session's own reply: it decodes
		same := make(map[string]string)
		for sym, ep := range r.Epochs {
			if i, ok := p.index[sym]; ok {
				if c, ok := same[ep]; ok {
					ep = c
				} else {
					ep = p.canonical(ep)
					same[ep] = ep
				}
				p.list[i].run = ep
			}
		}
	}
}

// digits returns the digits b starts with.
func digits(b []byte) []byte {
	for i, c := range b {
		if c < '0' || c > '9' {
			return b[:i]
		}
	}
	return b
}

// field returns the bytes after key in m up to end (or m's end).
func field(m, key []byte, end byte) []byte {
	i := bytes.Index(m, key)
	if i < 0 {
		return nil
	}
	v := m[i+len(key):]
	if j := bytes.IndexByte(v, end); j >= 0 {
		v = v[:j]
	}
	return v
}

// advance records a message of sym with seq: its position in the epoch
// the symbol was last told.
func (p *positions) advance(sym, seq []byte) {
	i, ok := p.last, true
	if i >= len(p.list) || p.list[i].sym != string(sym) {
		i, ok = p.index[string(sym)]
	}
	if !ok || p.list[i].run == "" {
		return
	}
	p.last = i
	n, ok := parseSeq(seq)
	if !ok {
		return
	}
	e := &p.list[i]
	e.set(fanout.Position{Seq: n, Epoch: e.run})
}

// parseSeq reads a seq's digits without the string ParseUint wants.
func parseSeq(b []byte) (n uint64, ok bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		d := uint64(c - '0')
		if c < '0' || c > '9' || n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// restart records a reset or epoch notice: sym's messages from here on
// are of epoch, from its start, so since seq 0 of it recovers all of them.
func (p *positions) restart(sym, epoch []byte) {
	i, ok := p.index[string(sym)]
	if !ok || !feed.ValidEpoch(string(epoch)) {
		return
	}
	e := &p.list[i]
	e.run = p.canonical(string(epoch))
	e.set(fanout.Position{Epoch: e.run})
}

// canonical returns the string of an epoch some position already holds
// that equals ep, or ep: one string per epoch, so that appendID, which
// compares each position's epoch with the one before, compares pointers.
func (p *positions) canonical(ep string) string {
	for i := range p.list {
		if e := &p.list[i]; e.run == ep {
			return e.run
		} else if e.at.Epoch == ep {
			return e.at.Epoch
		}
	}
	return ep
}

// appendID appends the id of the positions to dst: every known one in
// subscription order, up to maxEventIDBytes.
func (p *positions) appendID(dst []byte) []byte {
	start, epoch := len(dst), ""
	for i := range p.list {
		e := &p.list[i]
		if !e.known {
			continue
		}
		mark := len(dst)
		if e.at.Epoch != epoch {
			if len(dst) > start {
				dst = append(dst, ',')
			}
			dst = append(append(dst, '@'), e.at.Epoch...)
			epoch = e.at.Epoch
		}
		if e.stale {
			e.format()
		}
		dst = append(dst, e.text...)
		if len(dst)-start > maxEventIDBytes {
			return dst[:mark]
		}
	}
	return dst
}
