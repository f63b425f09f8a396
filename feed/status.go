package feed

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Trading states a Status carries. The feed says open, halted, auction or
// closed; stale is the gateway's own view of a symbol that has had no
// tick for a while although the feed is up, and never comes from a feed.
const (
	StatusOpen    = "open"
	StatusHalted  = "halted"
	StatusAuction = "auction"
	StatusClosed  = "closed"
	StatusStale   = "stale"
)

// ValidFeedStatus reports whether s is a state a feed may send: open,
// halted, auction or closed.
func ValidFeedStatus(s string) bool {
	switch s {
	case StatusOpen, StatusHalted, StatusAuction, StatusClosed:
		return true
	}
	return false
}

// Status is a change of one symbol's trading state. Reason is a short
// code saying why (for a halt, the exchange's halt reason, such as "LUDP"
// or "T1"); it may be empty. Seq numbers the symbol's status changes on
// their own, from 1, and Epoch is the run they belong to, as for Tick.
type Status struct {
	Symbol string
	Status string
	Reason string
	Seq    uint64
	TS     int64
	Epoch  string
}

// StatusType is a status message's type on the wire.
const StatusType = "status"

// AppendJSON appends the status's client wire form,
//
//	{"type":"status","sym":"AAPL","seq":3,"status":"halted","reason":"LUDP","ts":1732470000123456789}
//
// to dst ("reason" only when not empty). It allocates only when dst must
// grow. Reason must be valid (Validate checks it), so it needs no escaping.
func (s *Status) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":"status","sym":`...)
	dst = appendSymbol(dst, s.Symbol)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, s.Seq, 10)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, s.Status...)
	dst = append(dst, '"')
	if s.Reason != "" {
		dst = append(dst, `,"reason":"`...)
		dst = append(dst, s.Reason...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, s.TS, 10)
	return append(dst, '}')
}

// AppendUpstreamJSON appends the status's form between a publisher and
// the gateways: the wire form with the epoch, when not "".
func (s *Status) AppendUpstreamJSON(dst []byte) []byte {
	dst = s.AppendJSON(dst)
	return appendEpoch(dst[:len(dst)-1], s.Epoch)
}

// ErrBadStatus reports a status payload that cannot be used.
var ErrBadStatus = errors.New("feed: bad status")

// DecodeStatus parses a status message in its wire or upstream form and
// checks it (Validate).
func DecodeStatus(p []byte) (Status, error) {
	var w struct {
		Type   string `json:"type"`
		Sym    string `json:"sym"`
		Seq    uint64 `json:"seq"`
		Status string `json:"status"`
		Reason string `json:"reason"`
		TS     int64  `json:"ts"`
		Epoch  string `json:"epoch"`
	}
	if err := json.Unmarshal(p, &w); err != nil {
		return Status{}, fmt.Errorf("%w: %w", ErrBadStatus, err)
	}
	if w.Type != StatusType {
		return Status{}, fmt.Errorf("%w: type %q", ErrBadStatus, w.Type)
	}
	s := Status{Symbol: w.Sym, Status: w.Status, Reason: w.Reason, Seq: w.Seq, TS: w.TS, Epoch: w.Epoch}
	return s, s.Validate()
}

// Validate reports why s cannot be used, or nil: a bad symbol, seq or
// epoch, a missing ts, a state a feed may not send (ValidFeedStatus), or
// a reason that is not 1-16 of A-Z a-z 0-9 _ - (or empty). The error
// wraps ErrBadStatus and says its Reason (ReasonOf).
func (s *Status) Validate() error {
	if err := validHeader(ErrBadStatus, s.Symbol, s.Seq, s.TS, s.Epoch); err != nil {
		return err
	}
	switch {
	case !ValidFeedStatus(s.Status):
		return refuse(ErrBadStatus, errUnknownStatus, "%s: %q: want open, halted, auction or closed", s.Symbol, s.Status)
	case s.Reason != "" && !validToken(s.Reason, 16):
		return refuse(ErrBadStatus, errField, "%s: reason %q: want 1-16 of A-Z a-z 0-9 _ -", s.Symbol, s.Reason)
	}
	return nil
}
