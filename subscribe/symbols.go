package subscribe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tickgate/tickgate/fanout"
)

// maxSymbolsParam bounds the names one ?symbols= lookup may ask for.
const maxSymbolsParam = 1000

// symbolQuery is what a GET /symbols asks: every symbol, those starting
// with Prefix, or the ones named in Names, at most Limit (0: all), with
// their previous closes (Detail) or not.
type symbolQuery struct {
	Prefix string
	Names  []string
	Limit  int
	Detail bool
}

// parseSymbolQuery reads ?q= (a prefix, any case), ?symbols= (names,
// comma-separated, not with q), ?limit= (1 or more) and ?detail=1.
func parseSymbolQuery(r *http.Request) (symbolQuery, error) {
	v := r.URL.Query()
	q := symbolQuery{Prefix: strings.ToUpper(v.Get("q")), Detail: v.Get("detail") == "1"}
	if s := v.Get("symbols"); s != "" {
		for name := range strings.SplitSeq(s, ",") {
			if name = strings.TrimSpace(name); name != "" {
				q.Names = append(q.Names, name)
			}
		}
		if len(q.Names) > maxSymbolsParam {
			return q, fmt.Errorf("symbols: %d names, at most %d", len(q.Names), maxSymbolsParam)
		}
	}
	if q.Prefix != "" && q.Names != nil {
		return q, fmt.Errorf("q and symbols: give one")
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return q, fmt.Errorf("limit: want a whole number >= 1, got %q", s)
		}
		q.Limit = n
	}
	return q, nil
}

// ServeSymbols answers GET /symbols (docs/protocol.md): the symbols the
// engine carries, in listing order, or those of ?q= (in listing order)
// or ?symbols= (in the order asked, each once, the ones carried), at most
// ?limit=, with ?detail=1 each one's previous close; with auth on,
// only those the request's token is entitled to (a missing or bad token:
// 401). It costs O(symbols) at most: the engine's table is scanned once,
// without a lock, and stops at the limit.
func (s *Server) ServeSymbols(w http.ResponseWriter, r *http.Request) {
	grant, ok := s.authorize(w, r, false)
	if !ok {
		return
	}
	q, err := parseSymbolQuery(r)
	if err != nil {
		http.Error(w, "/symbols: "+err.Error(), http.StatusBadRequest)
		return
	}
	var keep func(string) bool
	if grant != nil {
		keep = grant.Allows
	}
	infos := s.findSymbols(q, keep)
	w.Header().Set("Content-Type", "application/json")
	if q.Detail {
		json.NewEncoder(w).Encode(details(infos))
		return
	}
	names := make([]string, len(infos))
	for i, info := range infos {
		names[i] = info.Name
	}
	json.NewEncoder(w).Encode(names)
}

// findSymbols is what q finds among the symbols keep (nil: all) keeps.
func (s *Server) findSymbols(q symbolQuery, keep func(string) bool) []fanout.SymbolInfo {
	if q.Names == nil {
		return s.engine.Find(q.Prefix, q.Limit, keep)
	}
	var out []fanout.SymbolInfo
	seen := make(map[string]bool, len(q.Names))
	for _, name := range q.Names {
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		if info, ok := s.engine.Info(name); ok && !seen[name] && (keep == nil || keep(name)) {
			seen[name] = true
			out = append(out, info)
		}
	}
	return out
}

// symbolDetail is one entry of GET /symbols?detail=1. PrevClose is omitted
// when the feed gave none (a replay, a NATS feed without listings):
// clients then measure change from the first price they see.
type symbolDetail struct {
	Sym       string   `json:"sym"`
	PrevClose *float64 `json:"prev_close,omitempty"`
}

// details is infos as /symbols?detail=1 entries.
func details(infos []fanout.SymbolInfo) []symbolDetail {
	out := make([]symbolDetail, len(infos))
	for i := range infos {
		out[i].Sym = infos[i].Name
		if infos[i].PrevClose > 0 {
			out[i].PrevClose = &infos[i].PrevClose
		}
	}
	return out
}
