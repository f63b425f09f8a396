package feed

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind is the kind of a feed message: the "kind" label of the decode-errors
// counter.
type Kind uint8

// Message kinds.
const (
	KindTick Kind = iota
	KindBook
	KindStatus
	KindListing
	numKinds
)

var kindNames = [numKinds]string{"tick", "book", "status", "listing"}

func (k Kind) String() string { return kindNames[k] }

// Reason is why a source refused a message it could judge on its own,
// without the receiver's book: the "reason" label of the decode-errors
// counter. What needs the book (an update that crosses it, or a level
// beyond the depth kept) is the receiver's to judge.
type Reason uint8

// Reasons a message is refused.
const (
	// ReasonMalformed: not JSON, or not the shape or "type" of the kind.
	ReasonMalformed Reason = iota
	// ReasonSymbol: a bad symbol, or not the one its NATS subject names.
	ReasonSymbol
	// ReasonField: a bad seq, ts, epoch, price (or previous close) or
	// status reason code.
	ReasonField
	// ReasonNegativeSize: a tick or book level with a negative size.
	ReasonNegativeSize
	// ReasonLevels: book levels out of order or repeated, or a snapshot
	// level of size 0.
	ReasonLevels
	// ReasonCrossed: a snapshot whose best bid is not below its best ask.
	ReasonCrossed
	// ReasonUnknownStatus: a trading state a feed may not send.
	ReasonUnknownStatus
	numReasons
)

var reasonNames = [numReasons]string{"malformed", "symbol", "field", "negative_size", "levels", "crossed", "unknown_status"}

func (r Reason) String() string { return reasonNames[r] }

// reasonErr is a Reason as the error Validate wraps, so that ReasonOf can
// tell it from the message.
type reasonErr struct {
	reason Reason
	text   string
}

func (e *reasonErr) Error() string { return e.text }

// The errors Validate wraps, one per reason it can give.
var (
	errSymbol        = &reasonErr{ReasonSymbol, "bad symbol"}
	errField         = &reasonErr{ReasonField, "bad field"}
	errNegativeSize  = &reasonErr{ReasonNegativeSize, "negative size"}
	errLevels        = &reasonErr{ReasonLevels, "bad levels"}
	errCrossed       = &reasonErr{ReasonCrossed, "crossed book"}
	errUnknownStatus = &reasonErr{ReasonUnknownStatus, "unknown status"}
)

// refuse builds a Validate error: sentinel (ErrBadTick, ErrBadBook,
// ErrBadStatus or ErrBadListing), then r, then the detail.
func refuse(sentinel error, r *reasonErr, format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{sentinel, r}, args...)...)
}

// validHeader checks what every book and status message carries: its
// symbol, seq, ts and epoch. sentinel is the kind's error.
func validHeader(sentinel error, sym string, seq uint64, ts int64, epoch string) error {
	switch {
	case !ValidSymbol(sym):
		return refuse(sentinel, errSymbol, "%q", sym)
	case seq == 0:
		return refuse(sentinel, errField, "%s: seq must be >= 1", sym)
	case ts <= 0:
		return refuse(sentinel, errField, "%s: missing ts", sym)
	case epoch != "" && !ValidEpoch(epoch):
		return refuse(sentinel, errField, "%s: epoch %q: want 1-32 of A-Z a-z 0-9 _ -", sym, epoch)
	}
	return nil
}

// ReasonOf returns why err refused a message: the reason a Validate (or a
// source, with RefuseSymbol) gave, else ReasonMalformed.
func ReasonOf(err error) Reason {
	var r *reasonErr
	if errors.As(err, &r) {
		return r.reason
	}
	return ReasonMalformed
}

// RefuseSymbol returns an error of sentinel (ErrBadTick, ErrBadBook,
// ErrBadStatus or ErrBadListing) and ReasonSymbol: for a source's own
// symbol checks, such as a payload's symbol that is not its subject's.
func RefuseSymbol(sentinel error, format string, args ...any) error {
	return refuse(sentinel, errSymbol, format, args...)
}

// maxRefusalLogs bounds the (symbol, kind, reason) triples Refusals
// remembers having logged; past it, new ones are counted but not logged.
const maxRefusalLogs = 4096

// Refusals counts and logs the messages a source refuses before they
// reach its sink: each in tickgate_feed_decode_errors_total{source,kind,
// reason}, and in its log at most once per symbol, kind and reason, so bad
// data upstream shows without flooding the log. It is not safe for
// concurrent use: a source refuses from the goroutine that decodes.
type Refusals struct {
	counts [numKinds][numReasons]prometheus.Counter
	log    *slog.Logger
	logged map[refusalKey]struct{}
}

type refusalKey struct {
	sym    string
	kind   Kind
	reason Reason
}

// NewRefusals registers source's counters with reg (every kind and reason
// at 0) and logs to log.
func NewRefusals(reg prometheus.Registerer, source string, log *slog.Logger) (*Refusals, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name:        DecodeErrorsMetric,
		Help:        DecodeErrorsHelp,
		ConstLabels: prometheus.Labels{"source": source},
	}, []string{"kind", "reason"})
	if err := reg.Register(vec); err != nil {
		return nil, fmt.Errorf("%s: register metrics: %w", source, err)
	}
	r := &Refusals{log: log, logged: make(map[refusalKey]struct{})}
	for k := range numKinds {
		for why := range numReasons {
			r.counts[k][why] = vec.WithLabelValues(k.String(), why.String())
		}
	}
	return r, nil
}

// Refuse counts a message of kind refused for err and logs it, with attrs,
// unless a refusal of sym, kind and the same reason was logged before. sym
// is the symbol the message is for as far as the source can tell ("" if
// it cannot); one that is not a valid symbol is remembered as "", so that
// garbage is not remembered piece by piece (and at most maxRefusalLogs
// triples are).
func (r *Refusals) Refuse(sym string, kind Kind, err error, attrs ...any) {
	if !ValidSymbol(sym) {
		sym = ""
	}
	why := ReasonOf(err)
	r.counts[kind][why].Inc()
	key := refusalKey{sym, kind, why}
	if _, ok := r.logged[key]; ok || len(r.logged) >= maxRefusalLogs {
		return
	}
	r.logged[key] = struct{}{}
	r.log.Warn("dropped bad feed message (logged once per symbol, kind and reason; counted in "+DecodeErrorsMetric+")",
		append([]any{"symbol", sym, "kind", kind.String(), "reason", why.String(), "err", err}, attrs...)...)
}
