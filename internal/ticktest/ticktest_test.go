package ticktest

import (
	"testing"
	"time"
)

func TestTicksAreValidAndRepeatable(t *testing.T) {
	for seq := uint64(1); seq <= 300; seq++ {
		tk := Tick("BRK.B", seq)
		if err := tk.Validate(); err != nil {
			t.Fatalf("Tick(BRK.B, %d) = %+v: %v", seq, tk, err)
		}
		if tk != Tick("BRK.B", seq) || tk.TS != BaseTS+int64(seq) || tk.Seq != seq {
			t.Fatalf("Tick(BRK.B, %d) = %+v, not a function of seq", seq, tk)
		}
	}
	if a := At("AAPL", 3, time.Second); a.TS != BaseTS+int64(time.Second) || a.Price != Tick("AAPL", 3).Price {
		t.Errorf("At(AAPL, 3, 1s) = %+v", a)
	}
}
