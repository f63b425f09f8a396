package subscribe

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"

	"github.com/tickgate/tickgate/fanout"
)

// Admission: what a /ws request must get before its upgrade, and a /sse
// request before its stream, each step named for what it takes, cheapest
// first so a refused client costs no token check or symbol lookup: a
// connection slot (MaxConnections, not draining, MaxConnectionsPerIP), a
// grant (the token, when Config.Verifier is set), the ?symbols= list
// checked against the grant, and a subject slot (the grant's MaxConns).
// With a Verifier every connection needs a token: in the Authorization
// header (Bearer), in ?token=, or, on /ws only, as the first message,
// {"op":"auth","token":..}, within Config.FirstMessageTimeout (grant.go
// takes it from there).

// admission is what admit took for one request: a connection slot, and,
// when grant is not nil, a subject slot for grant's subject.
type admission struct {
	connSlot
	grant   *Grant   // nil: no Verifier, or the token comes as the first message
	initial []string // ?symbols=, resolved; subscribed on connect
}

// connSlot is what a connection holds of the connection limits, from its
// admission to its end (its session's, or its refusal's): a slot of
// MaxConnections, counted under its transport, and, when heldIP, one of
// ip's (MaxConnectionsPerIP), which it does not hold when its connection
// holds that since its accept (perip.go).
type connSlot struct {
	ip     netip.Addr // the client's address (clientIP)
	kind   transportKind
	heldIP bool
}

// admit takes a connection slot, a grant and a subject slot for r, a
// request for transport k, or answers r itself with the refusal's status,
// gives back what it took and reports false.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, k transportKind) (a admission, ok bool) {
	if a.connSlot, ok = s.takeConnSlot(w, r, k); !ok {
		return a, false
	}
	defer func() {
		if !ok {
			s.releaseConnSlot(a.connSlot)
		}
	}()
	if a.grant, ok = s.authorize(w, r, k == overWebSocket); !ok {
		return a, false
	}
	if a.initial, ok = s.initialSymbols(w, r, a.grant); !ok {
		return a, false
	}
	if !s.takeSubjectSlot(a.grant) {
		s.metrics.rejected[k][rejectMaxConns].Inc()
		refuse(w, http.StatusTooManyRequests, "too_many_connections", "this token's subject holds max_conns connections already")
		return a, false
	}
	return a, true
}

// takeConnSlot takes a connection slot, shared by every transport, and,
// unless r's connection holds it since its accept (heldAtAccept), one of
// the client address's (heldIP), for a connection over k, or answers the
// request itself and reports false.
func (s *Server) takeConnSlot(w http.ResponseWriter, r *http.Request, k transportKind) (connSlot, bool) {
	if s.conns.Add(1) > int64(s.cfg.MaxConnections) {
		s.conns.Add(-1)
		s.metrics.rejected[k][rejectMaxConnections].Inc()
		http.Error(w, "tickgate: connection limit reached", http.StatusServiceUnavailable)
		return connSlot{}, false
	}
	if s.isDraining() {
		s.conns.Add(-1)
		s.metrics.rejected[k][rejectDraining].Inc()
		http.Error(w, "tickgate: draining", http.StatusServiceUnavailable)
		return connSlot{}, false
	}
	ip, heldIP := s.clientIP(r), !s.heldAtAccept(r)
	if heldIP && !s.perIP.take(ip) {
		s.conns.Add(-1)
		s.metrics.rejected[k][rejectPerIP].Inc()
		http.Error(w, "tickgate: too many connections from "+ip.String(), http.StatusTooManyRequests)
		return connSlot{}, false
	}
	s.open[k].Add(1)
	return connSlot{ip: ip, kind: k, heldIP: heldIP}, true
}

// releaseConnSlot gives back the slots takeConnSlot took.
func (s *Server) releaseConnSlot(c connSlot) {
	if c.heldIP {
		s.perIP.release(c.ip)
	}
	s.open[c.kind].Add(-1)
	s.conns.Add(-1)
}

// authorize is the one token check of an HTTP request: /ws, /sse and
// /symbols. It returns the grant, or nil when there is no Verifier, or
// when the request has no token and mayFollow says it can still come as
// the first message (a /ws request). A bad token, or a missing one that
// cannot follow, gets a 401 with a JSON body naming the reason, written
// here, and ok false.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, mayFollow bool) (g *Grant, ok bool) {
	if s.cfg.Verifier == nil {
		return nil, true
	}
	tok := tokenOf(r)
	if tok == "" && mayFollow {
		return nil, true
	}
	g, aerr := s.verify(tok)
	if aerr != nil {
		refuse(w, http.StatusUnauthorized, aerr.Reason, authRefusals[aerr.Reason])
		return nil, false
	}
	return g, true
}

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

// initialSymbols resolves ?symbols= against grant, so a bad list gets a
// plain 400 (403 outside the grant, 401 with no token to check it
// against) before the upgrade.
func (s *Server) initialSymbols(w http.ResponseWriter, r *http.Request, grant *Grant) ([]string, bool) {
	v := r.URL.Query().Get("symbols")
	if v == "" {
		return nil, true
	}
	if s.cfg.Verifier != nil && grant == nil {
		s.metrics.authFailures[AuthMissing].Inc()
		refuse(w, http.StatusUnauthorized, AuthMissing, "?symbols= needs a token in the Authorization header or ?token=")
		return nil, false
	}
	syms, perr := s.resolve(nil, grant, fanout.Ticks, parseSymbolsParam(v))
	if perr != nil {
		s.metrics.errors[perr.code].Inc()
		status := http.StatusBadRequest
		if perr.code == CodeForbidden {
			status = http.StatusForbidden
		}
		http.Error(w, perr.Error(), status)
		return nil, false
	}
	return syms, true
}

// authRefusals is the "msg" of a 401 for each reason: fixed text, so a
// refusal never echoes a byte of the token (or of the verifier's error
// about it) back to the client. The cause stays in AuthError.Err.
var authRefusals = map[string]string{
	AuthMissing:        "no token: send one as Authorization: Bearer, ?token= or (on /ws) a first auth message",
	AuthMalformed:      "the token is not a well-formed JWT",
	AuthExpired:        "the token has expired: get a fresh one",
	AuthNotYetValid:    "the token is not valid yet (nbf)",
	AuthBadSignature:   "the token's signature does not verify with this gateway's keys",
	AuthWrongAlgorithm: "the token's algorithm is not one this gateway accepts",
	AuthBadClaims:      "the token's claims are not acceptable (sub, syms, tier, max_conns, iss or aud)",
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

// takeSubjectSlot counts one more connection for g's subject and reports
// false, counting nothing, when that would pass g.MaxConns.
func (s *Server) takeSubjectSlot(g *Grant) bool {
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

// releaseSubjectSlot gives back the slot takeSubjectSlot took.
func (s *Server) releaseSubjectSlot(g *Grant) {
	if g == nil || g.MaxConns <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subjects[g.Subject]--; s.subjects[g.Subject] <= 0 {
		delete(s.subjects, g.Subject)
	}
}

// clientIP is the address a connection counts against for
// MaxConnectionsPerIP: the peer's, or, when the peer is a trusted proxy
// and ClientIPHeader is set, the nearest address in that header (read
// right to left, the way proxies append) that is not itself a trusted
// proxy. A header entry that does not parse stops the walk at the last
// address believed.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{} // not TCP (a test's fake request): one bucket
	}
	ip := ap.Addr().Unmap()
	if s.cfg.ClientIPHeader == "" || !s.trusted(ip) {
		return ip
	}
	vals := r.Header.Values(s.cfg.ClientIPHeader)
	for i := len(vals) - 1; i >= 0; i-- {
		hops := strings.Split(vals[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return ip
			}
			ip = a.Unmap()
			if !s.trusted(ip) {
				return ip
			}
		}
	}
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipSlots counts connections per client address, for
// MaxConnectionsPerIP; max 0 counts nothing.
type ipSlots struct {
	max int

	mu sync.Mutex // protects n
	n  map[netip.Addr]int
}

// take counts one more connection from ip unless that would pass max.
func (p *ipSlots) take(ip netip.Addr) bool {
	if p.max <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] >= p.max {
		return false
	}
	p.n[ip]++
	return true
}

// release gives back a slot taken for ip.
func (p *ipSlots) release(ip netip.Addr) {
	if p.max <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip]--; p.n[ip] <= 0 {
		delete(p.n, ip)
	}
}
