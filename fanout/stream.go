package fanout

import "time"

// Stream is what a topic carries for its symbol: every tick, or bars
// (OHLCV aggregates) of one interval. A subscription names one stream; a
// client may hold a symbol on several.
type Stream uint8

const (
	Ticks  Stream = iota // every tick, as the feed sends it
	Bars1s               // 1-second bars
	Bars1m               // 1-minute bars

	numStreams = iota
)

var streamNames = [numStreams]string{"ticks", "bars.1s", "bars.1m"}

// String returns the stream's wire name: "ticks", "bars.1s" or "bars.1m".
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
func Streams() []Stream { return []Stream{Ticks, Bars1s, Bars1m} }

// Bars reports whether st is a bar stream.
func (st Stream) Bars() bool { return st != Ticks }

// Interval is a bar stream's bucket width; 0 for Ticks.
func (st Stream) Interval() time.Duration {
	switch st {
	case Bars1s:
		return time.Second
	case Bars1m:
		return time.Minute
	}
	return 0
}
