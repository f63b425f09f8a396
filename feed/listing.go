package feed

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Listing is reference data about one symbol: that it is listed, with its
// previous close if the source knows it, or that it is delisted. A source
// hands listings to its Sink beside its ticks (Sink.List); a tick of a
// symbol never listed lists it too, with no previous close. A listing of
// a symbol already listed updates its previous close.
type Listing struct {
	Symbol string
	// PrevClose is the previous session's close, the reference a client
	// measures the day's change from; 0 when unknown.
	PrevClose float64
	// Delisted says the symbol is gone: the receiver retires it.
	Delisted bool
}

// Listed returns a listing, without a previous close, of each of syms.
func Listed(syms ...string) []Listing {
	out := make([]Listing, len(syms))
	for i, s := range syms {
		out[i] = Listing{Symbol: s}
	}
	return out
}

// Symbols returns the symbol of each of ls, in order.
func Symbols(ls []Listing) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Symbol
	}
	return out
}

// ErrBadListing reports a listing payload that cannot be used.
var ErrBadListing = errors.New("feed: bad listing")

// AppendJSON appends the listing's upstream form to dst:
//
//	{"type":"listing","sym":"AAPL","prev_close":229.87}
//	{"type":"delisting","sym":"AAPL"}
//
// with "prev_close" left out when it is 0.
func (l *Listing) AppendJSON(dst []byte) []byte {
	if l.Delisted {
		dst = append(dst, `{"type":"delisting","sym":`...)
		dst = appendSymbol(dst, l.Symbol)
		return append(dst, '}')
	}
	dst = append(dst, `{"type":"listing","sym":`...)
	dst = appendSymbol(dst, l.Symbol)
	if l.PrevClose != 0 {
		dst = strconv.AppendFloat(append(dst, `,"prev_close":`...), l.PrevClose, 'f', -1, 64)
	}
	return append(dst, '}')
}

// DecodeListing parses a listing or delisting in its upstream form. It
// checks the symbol and that a previous close, if any, is positive and
// finite.
func DecodeListing(b []byte) (Listing, error) {
	var w struct {
		Type      string  `json:"type"`
		Symbol    string  `json:"sym"`
		PrevClose float64 `json:"prev_close"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Listing{}, fmt.Errorf("%w: %w", ErrBadListing, err)
	}
	l := Listing{Symbol: w.Symbol, PrevClose: w.PrevClose}
	switch w.Type {
	case "listing":
	case "delisting":
		l.Delisted, l.PrevClose = true, 0
	default:
		return Listing{}, fmt.Errorf("%w: type %q, want listing or delisting", ErrBadListing, w.Type)
	}
	return l, l.Validate()
}

// Validate reports why l cannot be used, or nil.
func (l *Listing) Validate() error {
	switch {
	case !ValidSymbol(l.Symbol):
		return refuse(ErrBadListing, errSymbol, "%q", l.Symbol)
	case l.PrevClose < 0 || l.PrevClose > 1e12 || math.IsNaN(l.PrevClose):
		return refuse(ErrBadListing, errField, "%s: prev_close must be positive and finite", l.Symbol)
	}
	return nil
}
