package ticktest

import "fmt"

// Bar is a bar message (docs/protocol.md, "Streams and bars") decoded in
// full, as a client sees it.
type Bar struct {
	Type    string  `json:"type"`
	Stream  string  `json:"stream"`
	Sym     string  `json:"sym"`
	T       int64   `json:"t"`
	O       float64 `json:"o"`
	H       float64 `json:"h"`
	L       float64 `json:"l"`
	C       float64 `json:"c"`
	V       int64   `json:"v"`
	N       int64   `json:"n"`
	Seq     uint64  `json:"seq"`
	Partial bool    `json:"partial"`
	Delayed bool    `json:"delayed"`
	Span    int64   `json:"span"`

	Synthetic bool `json:"synthetic"`
}

// String is the bar in one line for tests to compare: stream, bucket start
// in seconds, OHLCV, trade count and seq, then its marks.
func (b Bar) String() string {
	s := fmt.Sprintf("%s %g o%g h%g l%g c%g v%d n%d #%d", b.Stream, float64(b.T)/1e9, b.O, b.H, b.L, b.C, b.V, b.N, b.Seq)
	if b.Partial {
		s += " partial"
	}
	if b.Delayed {
		s += " delayed"
	}
	if b.Span > 0 {
		s += fmt.Sprintf(" span%d", b.Span)
	}
	if b.Synthetic {
		s += " synthetic"
	}
	return s
}
