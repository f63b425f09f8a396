package subscribe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/tickgate/tickgate/fanout"
)

// Error codes sent in {"type":"error"} replies. They are stable API: clients
// switch on them, and they label tickgate_client_errors_total.
const (
	CodeMalformedJSON     = "malformed_json"
	CodeInvalidRequest    = "invalid_request"
	CodeUnknownOp         = "unknown_op"
	CodeUnknownSymbol     = "unknown_symbol"
	CodeUnknownStream     = "unknown_stream"
	CodeTooManySymbols    = "too_many_symbols"
	CodeWildcardForbidden = "wildcard_forbidden"
	CodeRateLimited       = "rate_limited"
	CodeForbidden         = "forbidden"
	CodeUnauthorized      = "unauthorized"
)

var errorCodes = []string{
	CodeMalformedJSON, CodeInvalidRequest, CodeUnknownOp, CodeUnknownSymbol, CodeUnknownStream,
	CodeTooManySymbols, CodeWildcardForbidden, CodeRateLimited, CodeForbidden,
	CodeUnauthorized,
}

// Wildcard subscribes to every symbol the gateway carries.
const Wildcard = "*"

// request is one client message. ID is optional and echoed in the reply;
// it is nil unless the message's "id" is an integer (RawID as sent).
// Stream (parsed into stream) applies to subscribe and unsubscribe;
// MaxRate, Since, History and Partial to subscribe only. Since is parsed
// from RawSince (parseSince): each symbol's position as
// {"seq":1041,"epoch":"k3x9f0a1b2c4"} or, in the legacy form, 1041.
type request struct {
	Op         string                     `json:"op"`
	ID         *int64                     `json:"-"`
	RawID      json.RawMessage            `json:"id"`
	StreamName string                     `json:"stream,omitempty"`
	Symbols    []string                   `json:"symbols,omitempty"`
	MaxRate    float64                    `json:"max_rate,omitempty"`
	RawSince   map[string]json.RawMessage `json:"since,omitempty"`
	Since      map[string]fanout.Position `json:"-"`
	History    int                        `json:"history,omitempty"`
	Partial    bool                       `json:"partial,omitempty"`
	Token      string                     `json:"token,omitempty"` // op auth

	stream fanout.Stream
}

// reply answers subscribe, unsubscribe and list. Stream names the stream
// of subscribed and unsubscribed. Symbols is always present, [] when
// empty; for list it is the ticks stream's, and Streams has every
// stream's. MaxRate is the effective rate of a rate-limited subscription.
// Recovered and Snapshot are present, possibly [], exactly when the
// subscribe had "since". Epochs maps each symbol subscribed added that has
// had a tick to its current epoch.
type reply struct {
	Type      string              `json:"type"`
	ID        *int64              `json:"id,omitempty"`
	Stream    string              `json:"stream,omitempty"`
	Symbols   []string            `json:"symbols"`
	MaxRate   float64             `json:"max_rate,omitempty"`
	Recovered []string            `json:"recovered,omitzero"`
	Snapshot  []string            `json:"snapshot,omitzero"`
	Epochs    map[string]string   `json:"epochs,omitempty"`
	Streams   map[string][]string `json:"streams,omitempty"`
}

// welcomeMessage is the first message of every connection: the limits a
// client must know before it subscribes, from the engine that enforces
// them. history_budget is fanout.Engine.HistoryBudget (history times
// symbols per subscribe); history maps each stream, in fanout.Streams
// order, to its HistoryMax; book_depth is the levels a side each book
// keeps (fanout.Engine.BookDepth):
//
//	{"type":"welcome","history_budget":1024,"history":{"ticks":1024,"bars.1s":500,"bars.1m":500,"book":0,"status":0},"book_depth":10}
func welcomeMessage(e *fanout.Engine) []byte {
	b := append([]byte(`{"type":"welcome","history_budget":`), strconv.Itoa(e.HistoryBudget())...)
	b = append(b, `,"history":{`...)
	for i, st := range fanout.Streams() {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, st.String())
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(e.HistoryMax(st)), 10)
	}
	b = strconv.AppendInt(append(b, `},"book_depth":`...), int64(e.BookDepth()), 10)
	return append(b, '}')
}

// authReply answers a token accepted by op auth. Expires is Unix seconds,
// 0 for never.
type authReply struct {
	Type    string `json:"type"` // always "authenticated"
	ID      *int64 `json:"id,omitempty"`
	Tier    string `json:"tier"`
	Expires int64  `json:"expires"`
}

// notice tells a client in-band of a change it did not ask for.
type notice struct {
	Type    string   `json:"type"` // always "notice"
	Code    string   `json:"code"`
	Msg     string   `json:"msg,omitempty"`
	Stream  string   `json:"stream,omitempty"`
	Symbols []string `json:"symbols,omitempty"`
}

// errorReply answers a message the server could not act on.
type errorReply struct {
	Type string `json:"type"` // always "error"
	ID   *int64 `json:"id,omitempty"`
	Code string `json:"code"`
	Msg  string `json:"msg"`
}

// protoError is a request the server answers with an error reply.
type protoError struct {
	code string
	msg  string
}

func (e *protoError) Error() string { return e.code + ": " + e.msg }

func errorf(code, format string, args ...any) *protoError {
	return &protoError{code: code, msg: fmt.Sprintf(format, args...)}
}

// decodeRequest parses one client message. Syntax errors and wrong shapes
// get distinct codes so a client can tell a broken encoder from a bad call.
// It judges only the message's shape (types, signs, which fields go with
// which op); whether the engine serves a policy (history length and
// budget, progress updates on the stream) is fanout.Engine.Subscribe's to
// say.
// On a shape error the returned request still carries the id if it parsed.
func decodeRequest(b []byte) (request, *protoError) {
	var r request
	if !json.Valid(b) {
		return r, errorf(CodeMalformedJSON, "message is not valid JSON")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	err := d.Decode(&r)
	idOK := r.parseID()
	if err != nil {
		return r, errorf(CodeInvalidRequest, "bad message shape: %v", err)
	}
	if !idOK {
		return r, errorf(CodeInvalidRequest, "\"id\" must be an integer")
	}
	switch r.Op {
	case "subscribe", "unsubscribe":
		if len(r.Symbols) == 0 {
			return r, errorf(CodeInvalidRequest, "%s needs a non-empty \"symbols\" array", r.Op)
		}
		st, ok := fanout.ParseStream(r.StreamName)
		if !ok {
			return r, errorf(CodeUnknownStream, "unknown stream %q; want %s", truncate(r.StreamName, 32), streamList)
		}
		r.stream = st
		if r.Op == "unsubscribe" && (r.MaxRate != 0 || r.RawSince != nil || r.History != 0 || r.Partial) {
			return r, errorf(CodeInvalidRequest, "\"max_rate\", \"since\", \"history\" and \"partial\" apply to subscribe only")
		}
		if r.MaxRate < 0 {
			return r, errorf(CodeInvalidRequest, "\"max_rate\" must be 0 (every tick) or a positive number of updates per second")
		}
		if r.History < 0 {
			return r, errorf(CodeInvalidRequest, "\"history\" must be 0 or a positive number of messages")
		}
		if perr := r.parseSince(); perr != nil {
			return r, perr
		}
	case "list":
	case "auth":
		if r.Token == "" {
			return r, errorf(CodeInvalidRequest, "auth needs a non-empty \"token\"")
		}
	case "":
		return r, errorf(CodeInvalidRequest, "missing \"op\"")
	default:
		return r, errorf(CodeUnknownOp, "unknown op %q; want subscribe, unsubscribe, list or auth", truncate(r.Op, 32))
	}
	return r, nil
}

// parseSince fills Since from RawSince: each symbol's position is either
// {"seq":<n>,"epoch":"<e>"}, or the legacy bare seq, which names no epoch
// and so cannot tell a restarted feed from the same one (kept for one
// release; docs/protocol.md).
func (r *request) parseSince() *protoError {
	if r.RawSince == nil {
		return nil
	}
	r.Since = make(map[string]fanout.Position, len(r.RawSince))
	for sym, raw := range r.RawSince {
		pos, ok := parsePosition(raw)
		if !ok {
			return errorf(CodeInvalidRequest, "\"since\" of %q must be {\"seq\":<seq>,\"epoch\":\"<epoch>\"} (or, legacy, a bare seq), got %s",
				truncate(sym, 32), truncate(string(raw), 64))
		}
		r.Since[sym] = pos
	}
	return nil
}

// parsePosition decodes one since value: a bare seq, or an object with a
// seq and a non-empty epoch and nothing else.
func parsePosition(raw json.RawMessage) (fanout.Position, bool) {
	if string(raw) == "null" {
		return fanout.Position{}, false
	}
	var seq uint64
	if err := json.Unmarshal(raw, &seq); err == nil {
		return fanout.Position{Seq: seq}, true
	}
	var obj struct {
		Seq   *uint64 `json:"seq"`
		Epoch string  `json:"epoch"`
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if d.Decode(&obj) != nil || obj.Seq == nil || obj.Epoch == "" {
		return fanout.Position{}, false
	}
	return fanout.Position{Seq: *obj.Seq, Epoch: obj.Epoch}, true
}

// streamList names the streams for error messages.
var streamList = func() string {
	var names []string
	for _, st := range fanout.Streams() {
		names = append(names, strconv.Quote(st.String()))
	}
	return strings.Join(names, ", ")
}()

// parseID sets ID from RawID if that is an integer in int64 range, and
// reports false if an id was sent that is not. A reply never echoes a
// made-up id: "id":"7", 1.5 or 1e3 get an error reply with no id at all.
func (r *request) parseID() bool {
	if len(r.RawID) == 0 || string(r.RawID) == "null" {
		return true
	}
	id, err := strconv.ParseInt(string(r.RawID), 10, 64)
	if err != nil {
		return false
	}
	r.ID = &id
	return true
}

// parseSymbolsParam splits the ?symbols= query value.
func parseSymbolsParam(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// encodeReply marshals a reply or errorReply.
func encodeReply(r any) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic("subscribe: encode reply: " + err.Error()) // only strings and ints
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
