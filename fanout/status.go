package fanout

import (
	"sync/atomic"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// The status stream: each symbol (each tier) has one trading status, its
// whole state in one message, so a subscriber gets the current status as
// its snapshot, then every change. The feed says open, halted, auction or
// closed (feed.Status); a symbol the feed has said nothing of this epoch
// is open once it ticks. The gateway's own view, stale, hides an open
// status while the feed is up and the symbol has had no tick for
// Config.StaleAfter (staleCheck, stale.go); its next tick brings the
// status back. Status messages carry the seq of the feed's status in
// force (0 for none): the gateway's changes repeat it, so a client takes
// each status message as the current state and never drops one by seq.
// A status has no history: since is always answered with the snapshot.

// statusState is a symbol's trading status in one tier. shard.mu
// protects it.
type statusState struct {
	feed     feed.Status // the feed's status in force this epoch; Status "" for none
	seen     uint64      // the epoch's last status seq from the feed
	ticked   bool        // the symbol has ticked this epoch
	stale    bool        // the gateway's view: open, but no tick for StaleAfter
	watched  bool        // on the stale check's list (staleCheck.watched)
	activeAt int64       // wall time (Unix ns) of the last tick or feed status: the stale check counts from it
	// ts is the time on the wire of the status now; snapRef is where it
	// was last encoded in the shard's arena, shared while still there
	// and snapOK (no change since).
	ts      int64
	snapRef liveRef
	snapOK  bool
}

// reset forgets the status, for a new epoch; the symbol stays on the
// stale check's list, if it is, until its next walk.
func (st *statusState) reset() { *st = statusState{activeAt: st.activeAt, watched: st.watched} }

// snapshot is the status now as a message, nil before the symbol has
// one. tp is the status topic. The caller holds shard.mu.
func (st *statusState) snapshot(tp *topic) []byte {
	if st.current() == "" {
		return nil
	}
	if st.snapOK {
		if data, ok := tp.sym.shard.arena.resolve(st.snapRef); ok {
			return data
		}
	}
	var data []byte
	data, st.snapRef = tp.encodeStatus(st.ts)
	st.snapOK = true
	return data
}

// current is the status a subscriber is told: "" for none yet.
func (st *statusState) current() string {
	switch {
	case st.stale:
		return feed.StatusStale
	case st.feed.Status != "":
		return st.feed.Status
	case st.ticked:
		return feed.StatusOpen
	}
	return ""
}

// open reports whether the symbol is open, by the feed or by ticking, so
// that the stale check watches it.
func (st *statusState) open() bool {
	return st.feed.Status == feed.StatusOpen || (st.feed.Status == "" && st.ticked)
}

// publishStatus makes in, a status from the feed, sym's current one and
// sends it. A status of another epoch resets sym first. The caller holds
// shard.mu.
func (s *shard) publishStatus(sym *symbol, in *feed.Status, now int64) {
	if ep := epochOrDefault(in.Epoch); ep != sym.epochs.current {
		s.reset(sym, ep)
	}
	st := &sym.status
	st.feed, st.seen, st.stale, st.activeAt = *in, in.Seq, false, now
	st.feed.Symbol, st.feed.Epoch = "", "" // kept: status, reason, seq
	s.sendStatus(sym, in.TS, in.TS+sym.lag)
	if st.open() {
		s.stale.add(sym, now)
	}
}

// tickStatus notes a tick of sym at now (the tick's feed time ts): the
// first of the epoch makes a symbol the feed said nothing of open, and a
// tick ends stale. The caller holds shard.mu.
func (s *shard) tickStatus(sym *symbol, ts, now int64) {
	st := &sym.status
	st.activeAt = now
	if st.ticked && !st.stale {
		return
	}
	told := st.stale || st.feed.Status == ""
	st.ticked, st.stale = true, false
	if told {
		s.sendStatus(sym, ts, 0)
	}
	if st.open() {
		s.stale.add(sym, now)
	}
}

// markStale makes sym stale at now. The caller holds shard.mu.
func (s *shard) markStale(sym *symbol, now int64) {
	sym.status.stale = true
	s.sendStatus(sym, now, 0)
}

// sendStatus sends sym's status now, with feed time ts on the wire and
// lat as the message's TS (0: not counted as delivery latency), to every
// subscriber. A status is state, not a kept message: a subscriber's
// snapshot is made from it (statusState.snapshot).
func (s *shard) sendStatus(sym *symbol, ts, lat int64) {
	st, tp := &sym.status, sym.topics[Status]
	st.ts, st.snapOK = ts, false
	if tp == nil { // no subscriber ever: a later one's snapshot is made then
		return
	}
	var data []byte
	data, st.snapRef = tp.encodeStatus(ts)
	st.snapOK = true
	tp.lastSeq = st.feed.Seq
	s.send(tp, Message{Data: data, TS: lat}, tp.lastSeq, 0)
}

// encodeStatus is the symbol's status now, with feed time ts on the wire,
// cut from the shard's arena, and where it is there. The caller holds
// shard.mu.
func (tp *topic) encodeStatus(ts int64) ([]byte, liveRef) {
	st := &tp.sym.status
	msg := feed.Status{Symbol: tp.sym.name, Status: st.current(), Seq: st.feed.Seq, TS: ts}
	if !st.stale {
		msg.Reason = st.feed.Reason
	}
	a := &tp.sym.shard.arena
	b := msg.AppendJSON(a.start())
	return a.cut(append(append(b[:len(b)-1], tp.sym.mark...), '}'))
}

// feedHealth is what the engine knows of its feed's health (SetFeedUp):
// the stale check runs only while the feed is up, and counts from when
// it came up.
type feedHealth struct {
	down atomic.Bool
	upAt atomic.Int64 // Unix ns
}

// SetFeedUp tells the engine whether its feed is up (true until told
// otherwise). While it is down no symbol turns stale: the feed_down
// notice speaks for all of them; once up, each has StaleAfter from then.
func (e *Engine) SetFeedUp(up bool) {
	if up && e.health.down.Load() {
		e.health.upAt.Store(time.Now().UnixNano())
	}
	e.health.down.Store(!up)
}
