package subscribe

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickgate/tickgate/fanout"
)

// Grants: what a session may see. With Config.Verifier set, the token's
// Grant (taken before the upgrade, admit.go, or from the first message,
// authenticate) decides the symbols a session may subscribe to, its tier,
// and how many connections its subject may hold. The session is closed
// with 4003 when its grant expires, unless the client sends a fresh token
// before.

// authCause is a fanout.Client close cause for a refused or expired token:
// close code 4003, with the reason as the close text.
type authCause struct{ reason string }

func (a *authCause) Error() string { return "subscribe: token " + a.reason }

// Tier is the licence a grant carries for the ticks it may see.
type Tier uint8

const (
	// Realtime sees every tick as it arrives.
	Realtime Tier = iota
	// Delayed sees each tick a fixed delay after its feed timestamp.
	Delayed
)

func (t Tier) String() string {
	if t == Delayed {
		return "delayed"
	}
	return "realtime"
}

// ParseTier reads "realtime" or "delayed".
func ParseTier(s string) (Tier, error) {
	switch s {
	case "realtime":
		return Realtime, nil
	case "delayed":
		return Delayed, nil
	}
	return 0, errors.New(`subscribe: tier must be "realtime" or "delayed"`)
}

// Grant is what one authenticated client may see. The Verifier that
// cmd/gateway wires (auth/, for JWTs) builds it from a token; subscribe
// knows nothing of tokens beyond the string.
type Grant struct {
	// Subject names who the grant is for (a JWT's sub); MaxConns counts
	// per subject.
	Subject string
	// Symbols are glob patterns (path.Match: "*", "AAPL", "MS*") of the
	// symbols the subject may see; nil allows none.
	Symbols []string
	// Streams are the streams the subject may see: exchanges licence
	// depth apart from trades, so a grant without fanout.Book sees ticks
	// and bars but no book. nil allows every stream.
	Streams []fanout.Stream
	// Tier is realtime or delayed.
	Tier Tier
	// MaxConns caps the subject's concurrent connections; 0 means no cap.
	MaxConns int
	// Expires is when the grant ends; zero means never.
	Expires time.Time
}

// Allows reports whether the grant covers sym.
func (g *Grant) Allows(sym string) bool {
	for _, p := range g.Symbols {
		if ok, _ := path.Match(p, sym); ok {
			return true
		}
	}
	return false
}

// AllowsStream reports whether the grant covers st.
func (g *Grant) AllowsStream(st fanout.Stream) bool {
	return g.Streams == nil || slices.Contains(g.Streams, st)
}

// ParseStreams reads the stream names a grant covers ("ticks", "book",
// ...): each must name a stream, and at least one must be given.
func ParseStreams(names []string) ([]fanout.Stream, error) {
	var out []fanout.Stream
	for _, name := range names {
		st, ok := fanout.ParseStream(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("subscribe: unknown stream %q; want %s", name, streamList)
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("subscribe: a grant's streams must name at least one")
	}
	return out, nil
}

// Verifier turns a bearer token into a Grant. Verify returns an
// *AuthError when the token is refused.
type Verifier interface {
	Verify(token string) (Grant, error)
}

// AuthError is a refused token. Reason is one of the AuthReason values: it
// is the "error" of the 401 body, the 4003 close text and the label of
// tickgate_auth_failures_total.
type AuthError struct {
	Reason string
	Err    error // the underlying cause, for logs
}

func (e *AuthError) Error() string {
	if e.Err != nil {
		return "subscribe: token " + e.Reason + ": " + e.Err.Error()
	}
	return "subscribe: token " + e.Reason
}

func (e *AuthError) Unwrap() error { return e.Err }

// Reasons a token is refused.
const (
	AuthMissing        = "missing"
	AuthMalformed      = "malformed"
	AuthExpired        = "expired"
	AuthNotYetValid    = "not_yet_valid"
	AuthBadSignature   = "bad_signature"
	AuthWrongAlgorithm = "wrong_algorithm"
	AuthBadClaims      = "bad_claims" // iss, aud, tier or syms not acceptable
)

// AuthReasons lists every reason, for metric labels.
var AuthReasons = []string{AuthMissing, AuthMalformed, AuthExpired, AuthNotYetValid, AuthBadSignature, AuthWrongAlgorithm, AuthBadClaims}

// takeFirstGrant takes a subject slot for a grant that came as the first
// message, then makes it the session's. It reports false (the session is
// being closed with 4029) if the subject is at its cap.
func (s *session) takeFirstGrant(g *Grant) bool {
	if !s.srv.takeSubjectSlot(g) {
		s.client.Close(ReasonTooManyConns)
		return false
	}
	s.setGrant(g)
	return true
}

// setGrant makes g, which holds a subject slot already, the session's
// grant: the tier gauge and the expiry timer.
func (s *session) setGrant(g *Grant) {
	s.grant = g
	if g.Tier == Delayed {
		s.srv.metrics.delayedConns.Inc()
	}
	s.armExpiry()
}

// releaseGrant stops the session's grant timers (first token, expiry) and
// gives back its subject slot.
func (s *session) releaseGrant() {
	if s.firstAuth != nil {
		s.firstAuth.Stop()
	}
	if s.grant == nil {
		return
	}
	if s.expiry != nil {
		s.expiry.Stop()
	}
	s.srv.releaseSubjectSlot(s.grant)
	if s.grant.Tier == Delayed {
		s.srv.metrics.delayedConns.Dec()
	}
}

// tokenMissing closes a session that sent no token in time, counted.
func (s *session) tokenMissing() {
	if s.client.Cause() == nil {
		s.srv.metrics.authFailures[AuthMissing].Inc()
	}
	s.client.Close(&authCause{AuthMissing})
}

// armExpiry closes the session with 4003 "token expired" when its grant
// expires: at exp, not at the next message.
func (s *session) armExpiry() {
	if s.expiry != nil {
		s.expiry.Stop()
	}
	if s.grant.Expires.IsZero() {
		return
	}
	s.expiry = time.AfterFunc(time.Until(s.grant.Expires), func() {
		s.client.Close(&authCause{AuthExpired})
	})
}

// authenticate handles {"op":"auth"}: the first message of a session that
// had no token, or a fresh token before the current one expires. With
// authentication off it is answered and changes nothing. A bad
// first token closes with 4003; a bad fresh one is answered with an error
// and the current grant stands until it expires.
func (s *session) authenticate(req request) {
	if s.srv.cfg.Verifier == nil { // auth off: every client sees everything
		s.reply(authReply{Type: "authenticated", ID: req.ID, Tier: Realtime.String()})
		return
	}
	g, aerr := s.srv.verify(req.Token)
	if s.grant == nil {
		if aerr != nil {
			s.client.Close(&authCause{aerr.Reason})
			return
		}
		s.firstAuth.Stop()
		if s.takeFirstGrant(g) {
			s.reply(authReply{Type: "authenticated", ID: req.ID, Tier: g.Tier.String(), Expires: unixOrZero(g.Expires)})
		}
		return
	}
	switch {
	case aerr != nil:
		s.replyError(req.ID, errorf(CodeUnauthorized, "token %s; the current one stands until it expires", aerr.Reason))
		return
	case g.Subject != s.grant.Subject || g.Tier != s.grant.Tier:
		s.replyError(req.ID, errorf(CodeUnauthorized, "a fresh token must keep the subject and tier; reconnect to change them"))
		return
	}
	s.grant.Expires, s.grant.Symbols, s.grant.Streams = g.Expires, g.Symbols, g.Streams
	s.armExpiry()
	s.reply(authReply{Type: "authenticated", ID: req.ID, Tier: g.Tier.String(), Expires: unixOrZero(g.Expires)})
	s.revokeUnentitled()
}

// revokeUnentitled unsubscribes what a narrowed grant no longer allows:
// each stream it no longer covers, with a notice naming the stream and
// its symbols, then the symbols it no longer covers on the others, with a
// notice naming the symbols.
func (s *session) revokeUnentitled() {
	var gone []string
	for _, st := range fanout.Streams() {
		held := s.srv.engine.SymbolsOf(s.client, st)
		if !s.grant.AllowsStream(st) {
			if lost := s.srv.engine.Unsubscribe(s.client, st, held); len(lost) > 0 {
				s.reply(notice{Type: "notice", Code: "revoked", Msg: "your token no longer covers this stream; it was unsubscribed", Stream: st.String(), Symbols: lost})
			}
			continue
		}
		lost := slices.DeleteFunc(held, func(sym string) bool { return s.grant.Allows(sym) })
		for _, sym := range s.srv.engine.Unsubscribe(s.client, st, lost) {
			if !slices.Contains(gone, sym) {
				gone = append(gone, sym)
			}
		}
	}
	if len(gone) == 0 {
		return
	}
	s.reply(notice{Type: "notice", Code: "revoked", Msg: "your token no longer covers these symbols; they were unsubscribed", Symbols: gone})
}

// entitled filters syms on stream st by the grant g (nil: no
// entitlements). A stream outside the grant refuses the request; the
// expansion of "*" (wildcard) keeps the entitled symbols; a symbol named
// outside the grant refuses the whole request.
func (s *Server) entitled(g *Grant, st fanout.Stream, syms []string, wildcard bool) ([]string, *protoError) {
	if g == nil {
		return syms, nil
	}
	if perr := streamForbidden(g, st); perr != nil {
		return nil, perr
	}
	if wildcard {
		return slices.DeleteFunc(syms, func(sym string) bool { return !g.Allows(sym) }), nil
	}
	var forbidden []string
	for _, sym := range syms {
		if s.engine.Known(sym) && !g.Allows(sym) {
			forbidden = append(forbidden, sym)
		}
	}
	if len(forbidden) > 0 {
		return nil, errorf(CodeForbidden, "not entitled to %s", capList(forbidden, maxEchoed))
	}
	return syms, nil
}

// streamForbidden refuses st if the grant g (nil: no entitlements) does
// not cover it.
func streamForbidden(g *Grant, st fanout.Stream) *protoError {
	if g == nil || g.AllowsStream(st) {
		return nil
	}
	return errorf(CodeForbidden, "not entitled to the %s stream", st)
}

// capList formats at most n items of list, then how many more there are.
func capList(list []string, n int) string {
	if len(list) <= n {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:n], ", ") + " and " + strconv.Itoa(len(list)-n) + " more"
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}
