package ticktest

import (
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
)

// BaseTS is the feed timestamp (Unix ns) of seq 0.
const BaseTS = int64(1732470000000000000)

// Tick is a valid tick of sym (for seq >= 1) whose fields all follow from
// seq; its TS is BaseTS+seq.
func Tick(sym string, seq uint64) feed.Tick {
	px := 100 + float64(seq%100)/100
	return feed.Tick{
		Symbol: sym, Seq: seq, Price: px, Size: 100 * int64(seq%7+1),
		Bid: px - 0.01, Ask: px + 0.01, TS: BaseTS + int64(seq),
	}
}

// At is Tick recorded at BaseTS+at, for feeds that pace by timestamp.
func At(sym string, seq uint64, at time.Duration) feed.Tick {
	t := Tick(sym, seq)
	t.TS = BaseTS + int64(at)
	return t
}

// Equal fails tb unless got is want, tick for tick and field for field,
// TS included.
func Equal(tb testing.TB, got, want []feed.Tick) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("got %d ticks, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			tb.Fatalf("tick %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
