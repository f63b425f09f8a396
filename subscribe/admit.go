package subscribe

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickgate/tickgate/fanout"
)

// Admission: who may connect and what they may see. With Config.Verifier
// set, every /ws connection needs a token: in the Authorization header
// (Bearer), in ?token=, or as the first message, {"op":"auth","token":..},
// within Config.FirstMessageTimeout. The token's Grant then decides the
// symbols a session may subscribe to, its tier, and how many connections
// its subject may hold. The session is closed with 4003 when its grant
// expires, unless the client sends a fresh token before.

// authCause is a fanout.Client close cause for a refused or expired token:
// close code 4003, with the reason as the close text.
type authCause struct{ reason string }

func (a *authCause) Error() string { return "subscribe: token " + a.reason }

// tokenOf returns the request's bearer token, from the Authorization
// header or else the token query parameter.
func tokenOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(tok)
		}
	}
	return r.URL.Query().Get("token")
}

// verify checks token and counts a refusal by reason.
func (s *Server) verify(token string) (*Grant, *AuthError) {
	if token == "" {
		s.metrics.authFailures[AuthMissing].Inc()
		return nil, &AuthError{Reason: AuthMissing}
	}
	g, err := s.cfg.Verifier.Verify(token)
	if err != nil {
		var aerr *AuthError
		if !errors.As(err, &aerr) {
			aerr = &AuthError{Reason: AuthMalformed, Err: err}
		}
		if c, ok := s.metrics.authFailures[aerr.Reason]; ok {
			c.Inc()
		}
		return nil, aerr
	}
	return &g, nil
}

// Authorize checks r's token for an HTTP endpoint such as /symbols. With
// no Verifier it allows everything. A missing or bad token gets a 401 with
// a JSON body naming the reason, written here, and ok false.
func (s *Server) Authorize(w http.ResponseWriter, r *http.Request) (g *Grant, ok bool) {
	if s.cfg.Verifier == nil {
		return nil, true
	}
	g, aerr := s.verify(tokenOf(r))
	if aerr != nil {
		refuse(w, http.StatusUnauthorized, aerr.Reason, aerr.Error())
		return nil, false
	}
	return g, true
}

// refuse answers an HTTP request with status and {"error":reason,"msg":msg}.
func refuse(w http.ResponseWriter, status int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
		Msg   string `json:"msg"`
	}{reason, msg})
}

// admitSubject counts one more connection for g's subject and reports
// false, counting nothing, when that would pass g.MaxConns.
func (s *Server) admitSubject(g *Grant) bool {
	if g == nil || g.MaxConns <= 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subjects[g.Subject] >= g.MaxConns {
		return false
	}
	s.subjects[g.Subject]++
	return true
}

// releaseSubject undoes admitSubject.
func (s *Server) releaseSubject(g *Grant) {
	if g == nil || g.MaxConns <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subjects[g.Subject]--; s.subjects[g.Subject] <= 0 {
		delete(s.subjects, g.Subject)
	}
}

// admitRequest checks the token of a /ws request before the upgrade. It
// returns the grant, or nil when there is no Verifier or the token is to
// come as the first message. A bad token gets a 401 and ok false.
func (s *Server) admitRequest(w http.ResponseWriter, r *http.Request) (g *Grant, ok bool) {
	if s.cfg.Verifier == nil {
		return nil, true
	}
	tok := tokenOf(r)
	if tok == "" {
		return nil, true
	}
	g, aerr := s.verify(tok)
	if aerr != nil {
		refuse(w, http.StatusUnauthorized, aerr.Reason, aerr.Error())
		return nil, false
	}
	return g, true
}

// admitted applies a grant that came as the first message: the subject's
// connection cap, then accepted. It reports false (the session is being
// closed with 4029) if the subject is at its cap.
func (s *session) admitted(g *Grant) bool {
	if !s.srv.admitSubject(g) {
		s.client.Close(ReasonTooManyConns)
		return false
	}
	s.accepted(g)
	return true
}

// accepted makes g, already counted against its subject, the session's
// grant: the tier gauge and the expiry timer.
func (s *session) accepted(g *Grant) {
	s.grant = g
	if g.Tier == Delayed {
		s.srv.metrics.delayedConns.Inc()
	}
	s.armExpiry()
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
		if s.admitted(g) {
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
	s.grant.Expires, s.grant.Symbols = g.Expires, g.Symbols
	s.armExpiry()
	s.reply(authReply{Type: "authenticated", ID: req.ID, Tier: g.Tier.String(), Expires: unixOrZero(g.Expires)})
	s.revokeUnentitled()
}

// revokeUnentitled unsubscribes what a narrowed grant no longer allows,
// with a notice naming the symbols.
func (s *session) revokeUnentitled() {
	var gone []string
	for _, st := range fanout.Streams() {
		var lost []string
		for _, sym := range s.srv.engine.SymbolsOf(s.client, st) {
			if !s.grant.Allows(sym) {
				lost = append(lost, sym)
			}
		}
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

// entitled filters syms by the grant g (nil: no entitlements). The
// expansion of "*" (wildcard) keeps the entitled symbols; a symbol named
// outside the grant refuses the whole request.
func (s *Server) entitled(g *Grant, syms []string, wildcard bool) ([]string, *protoError) {
	if g == nil {
		return syms, nil
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
