package replay

import (
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/ticktest"
)

// TestRecordedTimestampsPaced plays at a recorded pace sped up: the pace
// changes when ticks leave, never their ts. A tick stamped before its
// predecessor keeps its own ts too.
func TestRecordedTimestampsPaced(t *testing.T) {
	t.Parallel()
	file := []feed.Tick{
		ticktest.At("AAPL", 1, 0),
		ticktest.At("MSFT", 1, 20*time.Millisecond),
		ticktest.At("AAPL", 2, 10*time.Millisecond), // stamped before MSFT 1
		ticktest.At("AAPL", 3, 40*time.Millisecond),
	}
	path := writeFile(t, "t.ndjson", ndjson(file...))
	f := newFixture(t, Config{Path: path, Speed: 4, Timestamps: TimestampsRecorded})
	got, _, _ := f.play(t)
	ticktest.Equal(t, got, file)
}

// TestLoopRecordedTimestamps checks that play k adds k periods (the span
// plus one mean tick interval) to each ts, so ts keeps rising across
// plays, while seqs are raised as with emission timestamps.
func TestLoopRecordedTimestamps(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		file   []feed.Tick
		period time.Duration
	}{
		// Span 30ms over 3 intervals: the next play starts 10ms after the last tick.
		{"spaced", []feed.Tick{
			ticktest.At("AAPL", 1, 0), ticktest.At("BRK.B", 1, 10*time.Millisecond),
			ticktest.At("AAPL", 2, 20*time.Millisecond), ticktest.At("BRK.B", 2, 30*time.Millisecond),
		}, 40 * time.Millisecond},
		// All at one instant: a play is a second apart.
		{"one instant", []feed.Tick{ticktest.At("AAPL", 1, 0), ticktest.At("MSFT", 1, 0)}, time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "t.ndjson", ndjson(c.file...))
			n := 3*len(c.file) + 1
			got := loops(t, Config{Path: path, Fast: true, Loop: true, Timestamps: TimestampsRecorded}, n)
			checkLoops(t, got, c.file)
			for i, g := range got {
				play := i / len(c.file)
				want := c.file[i%len(c.file)].TS + int64(play)*int64(c.period)
				if g.TS != want {
					t.Fatalf("tick %d (play %d): TS %d, want the recorded %d + %d periods of %v = %d",
						i, play, g.TS, c.file[i%len(c.file)].TS, play, c.period, want)
				}
				if i > 0 && g.TS < got[i-1].TS {
					t.Fatalf("tick %d: TS %d before tick %d's %d", i, g.TS, i-1, got[i-1].TS)
				}
			}
		})
	}
}
