package nats

import (
	"bytes"
	"strconv"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Defaults of the JetStream acknowledgement window.
const (
	defaultAckWindow = 1024
	// ackTimeout is how long Publish waits for room in a full window
	// before it gives up on the acks outstanding: a stream that has not
	// answered for that long has lost them (a leader change, a dead node).
	ackTimeout = 5 * time.Second
)

// acker tracks JetStream's acknowledgements of the Publisher's ticks with
// no future per tick, so that Publish allocates nothing: every tick goes
// out as a request whose reply subject is the inbox of the current round,
// and acks are only counted. At most window ticks await their ack; a
// Publish that finds the window full waits for room, which holds the feed
// back (the simulator then skips ticks it never numbers, so no seq is
// lost). The ack callback runs on nats.go's goroutine; everything else on
// the Publish goroutine, except lost, Flush's wait and the counters.
//
// A round ends when acks can no longer come: the connection was lost, or
// a full window saw no ack for ackTimeout. Its outstanding ticks are then
// counted as failed (the stream may or may not have stored them) and a
// new round starts with a new reply subject, so a late ack of the old
// round is ignored rather than miscounted.
type acker struct {
	nc      *natsgo.Conn
	sub     *natsgo.Subscription
	inbox   string // with the trailing '.'; a round's reply is inbox + round number
	window  int64
	timer   *time.Timer   // the Publish goroutine's wait for room
	timeout time.Duration // of a full window with no ack: ackTimeout; tests lower it

	reply    atomic.Pointer[string] // the current round's reply subject
	round    uint64                 // owned by the Publish goroutine
	lost     atomic.Bool            // the connection was lost: end the round
	inflight atomic.Int64           // ticks of the current round awaiting their ack
	room     chan struct{}          // cap 1: an ack arrived

	acked    atomic.Uint64
	failures atomic.Uint64 // error acks, no responders, and acks that never came
	onFail   func(reason string, ack []byte)
}

// newAcker subscribes to a fresh inbox for the acks of ticks published on
// nc, keeping at most window of them unacknowledged. onFail is told, on
// either goroutine, why acks failed, with the refusing ack if any; it
// must be cheap, and rate-limit what it logs.
func newAcker(nc *natsgo.Conn, window int, onFail func(reason string, ack []byte)) (*acker, error) {
	a := &acker{
		nc:      nc,
		inbox:   natsgo.NewInbox() + ".",
		window:  int64(window),
		timeout: ackTimeout,
		timer:   time.NewTimer(time.Hour),
		room:    make(chan struct{}, 1),
		onFail:  onFail,
	}
	a.timer.Stop()
	a.newRound()
	sub, err := nc.Subscribe(a.inbox+"*", a.ack)
	if err != nil {
		return nil, err
	}
	a.sub = sub
	return a, nil
}

// newRound starts a round with a new reply subject, counting the acks the
// previous one still awaited as failed. Publish goroutine only.
func (a *acker) newRound() {
	a.round++
	reply := a.inbox + strconv.FormatUint(a.round, 10)
	a.reply.Store(&reply)
	if n := a.inflight.Swap(0); n > 0 {
		a.failures.Add(uint64(n))
		a.onFail("no ack before the connection was lost or the stream stopped answering", nil)
	}
}

// next returns the reply subject for the next tick, once the window has
// room for it, and counts the tick in flight. Publish goroutine only.
func (a *acker) next() string {
	if a.lost.Swap(false) {
		a.newRound()
	}
	if a.inflight.Load() >= a.window && !a.waitRoom() {
		a.newRound()
	}
	a.inflight.Add(1)
	return *a.reply.Load()
}

// unsent takes back a tick next counted that could not be sent.
func (a *acker) unsent() { a.inflight.Add(-1) }

// waitRoom waits up to a.timeout for the window to have room.
func (a *acker) waitRoom() bool {
	a.timer.Reset(a.timeout)
	defer a.timer.Stop()
	for a.inflight.Load() >= a.window {
		select {
		case <-a.room:
		case <-a.timer.C:
			return false
		}
	}
	return true
}

// ack counts one acknowledgement of the current round. It runs on
// nats.go's callback goroutine. A JetStream ack is {"stream":..,"seq":..};
// {"error":..} is a refusal, and an empty message a status such as 503,
// no responders: no stream captured the subject.
func (a *acker) ack(m *natsgo.Msg) {
	if m.Subject != *a.reply.Load() {
		return // of an ended round, already counted as failed
	}
	a.inflight.Add(-1)
	if len(m.Data) == 0 || bytes.Contains(m.Data, []byte(`"error"`)) {
		a.failures.Add(1)
		a.onFail("the stream did not store a tick (an empty ack: no stream captures the subject)", m.Data)
	} else {
		a.acked.Add(1)
	}
	select {
	case a.room <- struct{}{}:
	default:
	}
}

// drain waits up to timeout for every tick in flight to be acked.
func (a *acker) drain(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for a.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-a.room:
		case <-time.After(10 * time.Millisecond):
		}
	}
	return true
}

// pending is the number of ticks awaiting their ack.
func (a *acker) pending() int64 { return max(a.inflight.Load(), 0) }
