package fanout

import (
	"errors"
	"fmt"
)

// The errors Subscribe returns for a request it will not serve. Each is
// wrapped with the detail (fmt.Errorf %w); errors.Is tells them apart, so
// a caller maps each to its own error code. ErrUnknownSymbol is about the
// symbols; the others are about the Policy.
var (
	// ErrUnknownSymbol reports a symbol the engine does not carry.
	ErrUnknownSymbol = errors.New("fanout: unknown symbol")
	// ErrNoDelayedTier reports a delayed subscription on an engine without
	// a delay (Config.Delay 0).
	ErrNoDelayedTier = errors.New("fanout: no delayed tier configured")
	// ErrUnknownStream reports a Policy.Stream the engine has no topic of.
	ErrUnknownStream = errors.New("fanout: unknown stream")
	// ErrNoProgress reports progress updates (Policy.Partial) asked of a
	// stream that has no forming bar: ticks.
	ErrNoProgress = errors.New("fanout: progress updates are for bar streams only")
	// ErrHistoryTooLong reports a Policy.History below 0 or above what the
	// stream keeps (HistoryMax).
	ErrHistoryTooLong = errors.New("fanout: history longer than the stream keeps")
	// ErrHistoryBudget reports Policy.History times the symbols over
	// HistoryBudget.
	ErrHistoryBudget = errors.New("fanout: history over the budget")
)

// Policy is how a client wants one subscribe request's symbols delivered.
// A new subscribe option is a field here, checked in check, and served by
// subscribeLocked (subscription.go).
type Policy struct {
	// Stream is the stream subscribed to; the zero value is Ticks.
	Stream Stream
	// MaxRate caps updates per second per symbol; 0 (or less) means every
	// tick. It is rounded down to one of Config.RateClasses (up to the
	// lowest one). A status subscription takes every change: check sets
	// it to 0.
	MaxRate float64
	// Since maps a symbol to the last position the client saw. A symbol
	// whose messages after it are all in the history ring, without a hole,
	// in the epoch it names, gets exactly those (Result.Recovered); any
	// other gets a snapshot (Result.Snapshot). A symbol not in Since gets
	// a snapshot as usual.
	Since map[string]Position
	// Delayed subscribes to the delayed tier: each tick Config.Delay after
	// its feed timestamp, marked "delayed":true, and bars made of those.
	Delayed bool
	// History, above 0, asks for the last History messages of each newly
	// added symbol, oldest first, instead of its snapshot; a symbol in
	// Since is recovered instead. At most HistoryMax(Stream), and History
	// times the symbols named at most HistoryBudget.
	History int
	// Partial asks, on a bar stream, for progress updates of the forming
	// bar ("partial":true) at most once a second.
	Partial bool
}

// Position is a point in a topic's stream: the seq of a message (a tick's
// seq, a bar's bucket number) in the epoch that numbered it. An Epoch ""
// is the legacy form, a seq alone: it is taken as the symbol's current
// epoch, so it cannot tell a restarted feed from the same one.
type Position struct {
	Seq   uint64
	Epoch string
}

// Result is what Subscribe did.
type Result struct {
	// Added lists the symbols newly subscribed, in request order.
	Added []string
	// Rate is the effective rate class, or 0 for every tick.
	Rate float64
	// Recovered and Snapshot split the newly added symbols that Policy.Since
	// names: recovered from history, or fallen back to a snapshot. Both are
	// nil when Since is nil.
	Recovered, Snapshot []string
	// Epochs maps each added symbol that has had a tick to its current
	// epoch on the subscribed stream and tier.
	Epochs map[string]string
}

// check is the one place that decides whether the engine serves p for
// syms: it returns one of the errors above, wrapped, or nil. It reads only
// the fixed symbol table and config, so Subscribe calls it before taking
// any lock or changing anything. A max_rate on a stream it does not apply
// to (Stream.rated) it sets to 0, which the reply's rate then shows.
func (e *Engine) check(syms []string, p *Policy) error {
	if !p.Stream.rated() {
		p.MaxRate = 0
	}
	for _, name := range syms {
		if !e.Known(name) {
			return fmt.Errorf("%w: %q", ErrUnknownSymbol, name)
		}
	}
	switch {
	case int(p.Stream) >= numStreams:
		return fmt.Errorf("%w: %d", ErrUnknownStream, p.Stream)
	case p.Delayed && e.cfg.Delay <= 0:
		return ErrNoDelayedTier
	case p.Partial && !p.Stream.Bars():
		return fmt.Errorf("%w: \"partial\" on %s", ErrNoProgress, p.Stream)
	case p.History < 0 || p.History > e.HistoryMax(p.Stream):
		return fmt.Errorf("%w: \"history\" %d, and %s keeps %d", ErrHistoryTooLong, p.History, p.Stream, e.HistoryMax(p.Stream))
	case p.History*len(syms) > e.HistoryBudget():
		return fmt.Errorf("%w: \"history\" %d for %d symbols is more than the %d messages one subscribe may ask for; split it", ErrHistoryBudget, p.History, len(syms), e.HistoryBudget())
	}
	return nil
}

// Check reports whether the engine would serve p for syms, as Subscribe
// judges it, without subscribing: for a caller that must refuse a bad
// request before it answers at all (an event stream's HTTP status).
func (e *Engine) Check(syms []string, p Policy) error { return e.check(syms, &p) }

// HistoryMax is the most messages a subscription to st can ask for as
// history (Policy.History): none on a book, whose updates mean nothing
// without the book they change (its ring serves since alone), or on a
// status, which is one state.
func (e *Engine) HistoryMax(st Stream) int {
	switch {
	case st.Bars():
		return max(e.cfg.BarHistory, 0)
	case st == Ticks:
		return max(e.cfg.History, 0)
	}
	return 0
}

// BookDepth is how many levels a side the engine keeps of each book.
func (e *Engine) BookDepth() int { return e.cfg.BookDepth }

// HistoryBudget is the most history messages one subscribe may ask for in
// all (Policy.History times the symbols it names, held ones included, as
// a client cannot tell them apart before the shard locks): what fits
// under a client's conflate mark, so a catch-up never sends the client
// into conflation.
func (e *Engine) HistoryBudget() int { return e.cfg.ConflateAt / historyMsgBytes }

// historyMsgBytes is what HistoryBudget reckons a message at: more than a
// tick or bar takes on the wire.
const historyMsgBytes = 256
