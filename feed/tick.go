package feed

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Tick is one market-data update for one symbol. Seq is assigned per symbol
// by the source, starts at 1 and grows by 1 per tick, so a receiver can see
// a gap. TS is the feed timestamp in Unix nanoseconds. Epoch names the run
// of numbering Seq belongs to: whoever assigns seqs gives them an epoch and
// changes it whenever the numbering starts again, so a seq is only
// comparable with seqs of the same epoch. An empty Epoch is DefaultEpoch.
// Synthetic marks a tick that was made up rather than traded: the
// simulator's backfill of the history before its start (feed/sim). It has
// a seq of its run like any other; its TS is when it would have happened,
// not when it was published.
type Tick struct {
	Symbol string  `json:"sym"`
	Seq    uint64  `json:"seq"`
	Price  float64 `json:"px"`
	Size   int64   `json:"sz"`
	Bid    float64 `json:"bid"`
	Ask    float64 `json:"ask"`
	TS     int64   `json:"ts"`
	Epoch  string  `json:"epoch,omitempty"`

	Synthetic bool `json:"synthetic,omitempty"`
}

// DefaultEpoch is the epoch of ticks that carry none, as a program that
// predates epochs publishes them: it never changes, so a restart of such a
// publisher cannot be told from its seqs.
const DefaultEpoch = "0"

// epochDigits are the digits of NewEpoch: lower-case base32hex.
const epochDigits = "0123456789abcdefghijklmnopqrstuv"

// NewEpoch returns a fresh epoch for a new run of seq numbering: 12
// lower-case base32hex digits, 60 bits from crypto/rand, so two runs do
// not share one by chance.
func NewEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand panics instead
	n := binary.LittleEndian.Uint64(b[:])
	var e [12]byte
	for i := range e {
		e[i] = epochDigits[n&31]
		n >>= 5
	}
	return string(e[:])
}

// ValidEpoch reports whether s is a well-formed epoch: 1 to 32 bytes of
// A-Z, a-z, 0-9, '_' or '-', so it needs no escaping in JSON.
func ValidEpoch(s string) bool { return validToken(s, 32) }

// validToken reports whether s is 1 to maxLen bytes of A-Z, a-z, 0-9, '_'
// or '-': a code that goes into JSON unescaped.
func validToken(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Sink receives ticks from a Source. Publish is called from one goroutine.
type Sink interface {
	Publish(Tick)
}

// DepthSink is a Sink that also takes order books and trading status.
// A source that produces them hands them to a sink that is a DepthSink,
// from the same goroutine as its ticks and in feed order with them; a
// plain Sink gets the ticks alone. The sink must not keep a Book's level
// slices beyond the call: they are the source's to reuse.
type DepthSink interface {
	Sink
	PublishBook(Book)
	PublishStatus(Status)
}

// Source produces ticks. Symbols lists every symbol the source may emit; it
// must not change after construction. Run emits ticks into sink until ctx is
// done or the source fails, and returns nil on a clean stop.
type Source interface {
	Symbols() []string
	Run(ctx context.Context, sink Sink) error
}

// ErrBadTick reports a tick payload that cannot be used.
var ErrBadTick = errors.New("feed: bad tick")

// AppendJSON appends the tick's wire form,
//
//	{"type":"tick","sym":"AAPL","seq":42,"px":189.31,"sz":100,"bid":189.3,"ask":189.32,"ts":1732470000123456789}
//
// with `,"synthetic":true` before the brace for a synthetic tick, to dst
// and returns the extended slice. It allocates only when dst must grow.
func (t *Tick) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"tick","sym":`...)
	dst = appendSymbol(dst, t.Symbol)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, t.Seq, 10)
	dst = append(dst, `,"px":`...)
	dst = strconv.AppendFloat(dst, t.Price, 'f', -1, 64)
	dst = append(dst, `,"sz":`...)
	dst = strconv.AppendInt(dst, t.Size, 10)
	dst = append(dst, `,"bid":`...)
	dst = strconv.AppendFloat(dst, t.Bid, 'f', -1, 64)
	dst = append(dst, `,"ask":`...)
	dst = strconv.AppendFloat(dst, t.Ask, 'f', -1, 64)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, t.TS, 10)
	if t.Synthetic {
		dst = append(dst, `,"synthetic":true`...)
	}
	return append(dst, '}')
}

// AppendUpstreamJSON appends the tick's form between a publisher and the
// gateways, the wire form with the epoch added,
//
//	{"type":"tick","sym":"AAPL","seq":42,...,"ts":1732470000123456789,"epoch":"k3x9f0a1b2c4"}
//
// or just the wire form when t.Epoch is "". It allocates only when dst
// must grow. t.Epoch must be valid (Validate checks it).
func (t *Tick) AppendUpstreamJSON(dst []byte) []byte {
	dst = t.AppendJSON(dst)
	return appendEpoch(dst[:len(dst)-1], t.Epoch)
}

// appendSymbol appends s as a JSON string. Valid symbols need no escaping;
// anything else goes through encoding/json so the output stays valid JSON.
func appendSymbol(dst []byte, s string) []byte {
	if ValidSymbol(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// ValidSymbol reports whether s is a well-formed symbol: 1 to 32 bytes of
// A-Z, 0-9, '.', '-' or '_'. The wildcard "*" is not a symbol.
func ValidSymbol(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// DecodeJSON parses a tick in its wire or upstream form (the "type" field
// is optional and, when present, must be "tick"). It checks what a
// receiver relies on: a valid symbol, seq >= 1, finite positive prices, a
// timestamp and, when present, a valid epoch. A tick without an epoch
// keeps Epoch "", which means DefaultEpoch.
func DecodeJSON(b []byte) (Tick, error) {
	var w struct {
		Type string `json:"type"`
		Tick
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Tick{}, fmt.Errorf("%w: %w", ErrBadTick, err)
	}
	if w.Type != "" && w.Type != "tick" {
		return Tick{}, fmt.Errorf("%w: type %q", ErrBadTick, w.Type)
	}
	return w.Tick, w.Tick.Validate()
}

// Validate reports why t cannot be published, or nil. The error wraps
// ErrBadTick and says its Reason (ReasonOf).
func (t *Tick) Validate() error {
	switch {
	case !ValidSymbol(t.Symbol):
		return refuse(ErrBadTick, errSymbol, "%q", t.Symbol)
	case t.Seq == 0:
		return refuse(ErrBadTick, errField, "%s: seq must be >= 1", t.Symbol)
	case !(t.Price > 0) || !(t.Bid > 0) || !(t.Ask > 0) || t.Price > 1e12 || t.Bid > 1e12 || t.Ask > 1e12:
		return refuse(ErrBadTick, errField, "%s: prices must be positive and finite", t.Symbol)
	case t.Size < 0:
		return refuse(ErrBadTick, errNegativeSize, "%s", t.Symbol)
	case t.TS <= 0:
		return refuse(ErrBadTick, errField, "%s: missing ts", t.Symbol)
	case t.Epoch != "" && !ValidEpoch(t.Epoch):
		return refuse(ErrBadTick, errField, "%s: epoch %q: want 1-32 of A-Z a-z 0-9 _ -", t.Symbol, t.Epoch)
	}
	return nil
}
