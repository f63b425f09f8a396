package fanout

import "time"

// Stream is what a topic carries for its symbol: every tick, bars (OHLCV
// aggregates) of one interval, its order book, or its trading status. A
// subscription names one stream; a client may hold a symbol on several.
type Stream uint8

const (
	Ticks  Stream = iota // every tick, as the feed sends it
	Bars1s               // 1-second bars
	Bars1m               // 1-minute bars
	Book                 // the order book: a snapshot, then updates of the levels that changed (book.go)
	Status               // the trading status: open, halted, auction, closed, or the gateway's stale (status.go)

	numStreams = iota
)

// barStreams bounds the bar streams, Bars1s up to it: a symbol keeps a
// forming bar for each.
const barStreams = Bars1m + 1

var streamNames = [numStreams]string{"ticks", "bars.1s", "bars.1m", "book", "status"}

// String returns the stream's wire name: "ticks", "bars.1s", "bars.1m",
// "book" or "status".
func (st Stream) String() string {
	if int(st) < len(streamNames) {
		return streamNames[st]
	}
	return "unknown"
}

// ParseStream maps a wire name to its stream; "" is Ticks.
func ParseStream(name string) (Stream, bool) {
	if name == "" {
		return Ticks, true
	}
	for i, n := range streamNames {
		if n == name {
			return Stream(i), true
		}
	}
	return 0, false
}

// Streams returns every stream, Ticks first.
func Streams() []Stream { return []Stream{Ticks, Bars1s, Bars1m, Book, Status} }

// Bars reports whether st is a bar stream.
func (st Stream) Bars() bool { return st == Bars1s || st == Bars1m }

// lazy reports whether a symbol's topic of st is made only when first
// needed (symbol.topic): a book or status, which most symbols never have.
func (st Stream) lazy() bool { return st == Book || st == Status }

// numEager is how many of a symbol's topics are made with it: ticks and
// the bar streams.
const numEager = numStreams - 2

// rated reports whether a max_rate applies to st. A status subscription
// takes every change: there are few, and each is the whole state.
func (st Stream) rated() bool { return st != Status }

// Interval is a bar stream's bucket width; 0 for the other streams.
func (st Stream) Interval() time.Duration {
	switch st {
	case Bars1s:
		return time.Second
	case Bars1m:
		return time.Minute
	}
	return 0
}
