package subscribe

import (
	"errors"
	"math"
	"net"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/tickgate/tickgate/fanout"
)

// Server-Sent Events: GET /sse streams what /ws would send for one
// subscribe, as text/event-stream, for clients that cannot hold a
// WebSocket (proxies that break them, curl, EventSource). The request
// names the subscribe in its query (eventRequest); it is admitted like an
// upgrade (admit.go) and checked whole before the stream starts, so a bad
// one gets an HTTP status and nothing else. Then it is a session like any
// other, whose transport, eventStream, writes each batch as one event
// (docs/protocol.md, "Server-Sent Events").

// ServeSSE serves GET /sse: it checks the request's origin, admits it
// (admit.go) and its subscribe (eventRequest), answers 200 and runs it as
// a session subscribed to it.
func (s *Server) ServeSSE(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet { // a HEAD would get a stream for a body
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "tickgate: /sse takes GET", http.StatusMethodNotAllowed)
		return
	}
	origin, ok := s.allowedOrigin(r)
	if !ok {
		http.Error(w, "tickgate: origin "+truncate(r.Header.Get("Origin"), 64)+" not allowed (server.origin_patterns)", http.StatusForbidden)
		return
	}
	a, ok := s.admit(w, r, overSSE)
	if !ok {
		return
	}
	req, status, perr := s.eventRequest(r, a)
	if perr != nil {
		s.release(a)
		s.metrics.errors[perr.code].Inc()
		http.Error(w, perr.Error(), status)
		return
	}
	es, err := s.hijackStream(w, origin)
	if err != nil {
		s.release(a)
		return
	}
	es.ids = newPositions(req.Symbols, req.Since)
	s.start(newSession(s, es, &es.out, a.connSlot), a, &req)
}

// eventRequest reads the subscribe a /sse request asks for: the symbols
// admit resolved, and from the query stream, max_rate, history, partial
// and since, the last overridden by a Last-Event-ID header. It checks it
// as the engine will judge it, and returns the status to refuse it with.
func (s *Server) eventRequest(r *http.Request, a admission) (request, int, *protoError) {
	q := r.URL.Query()
	req := request{Op: "subscribe", Symbols: a.initial}
	if len(req.Symbols) == 0 {
		return req, http.StatusBadRequest, errorf(CodeInvalidRequest, "/sse needs ?symbols=, a comma-separated list (or *)")
	}
	st, ok := fanout.ParseStream(q.Get("stream"))
	if !ok {
		return req, http.StatusBadRequest, errorf(CodeUnknownStream, "unknown stream %q; want %s", truncate(q.Get("stream"), 32), streamList)
	}
	req.stream = st
	// admit checked ?symbols= against the grant on ticks, which every
	// /ws request starts on; the stream asked for here needs the grant too.
	if perr := streamForbidden(a.grant, st); perr != nil {
		return req, http.StatusForbidden, perr
	}
	var perr *protoError
	if req.MaxRate, perr = queryFloat(q, "max_rate", "0 (every tick) or a positive number of updates per second"); perr != nil {
		return req, http.StatusBadRequest, perr
	}
	if v := q.Get("history"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return req, http.StatusBadRequest, errorf(CodeInvalidRequest, "\"history\" must be 0 or a positive number of messages, got %q", truncate(v, 16))
		}
		req.History = n
	}
	if v := q.Get("partial"); v != "" {
		var err error
		if req.Partial, err = strconv.ParseBool(v); err != nil {
			return req, http.StatusBadRequest, errorf(CodeInvalidRequest, "\"partial\" must be true or false, got %q", truncate(v, 16))
		}
	}
	if status, perr := req.eventSince(r, q); perr != nil {
		return req, status, perr
	}
	if err := s.engine.Check(req.Symbols, req.policy(a.grant)); err != nil {
		return req, http.StatusBadRequest, subscribeError(err)
	}
	return req, 0, nil
}

// eventSince sets req.Since from the Last-Event-ID header an EventSource
// reconnects with or, failing that, ?since=, both in the id form
// (eventid.go). The header wins: a reconnecting EventSource sends the URL
// it first opened, with the since it started from.
func (req *request) eventSince(r *http.Request, q url.Values) (int, *protoError) {
	name, id, tooLong := "Last-Event-ID", r.Header.Get("Last-Event-ID"), http.StatusRequestHeaderFieldsTooLarge
	if id == "" {
		name, id, tooLong = "since", q.Get("since"), http.StatusBadRequest
	}
	since, err := parseEventID(id)
	switch {
	case errors.Is(err, errEventIDTooLong):
		return tooLong, errorf(CodeInvalidRequest, "%s is %d bytes, over the %d an event id may have", name, len(id), maxEventIDBytes)
	case err != nil:
		return http.StatusBadRequest, errorf(CodeInvalidRequest, "%s: %v; want an event id, such as @k3x9f0a1b2c4,AAPL:1041", name, err)
	}
	req.Since = since
	return 0, nil
}

// queryFloat reads q's key as a number of at least 0 (0 if absent).
func queryFloat(q url.Values, key, want string) (float64, *protoError) {
	v := q.Get(key)
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errorf(CodeInvalidRequest, "%q must be %s, got %q", key, want, truncate(v, 16))
	}
	return f, nil
}

// allowedOrigin applies /ws's origin rule to a browser's EventSource: no
// Origin (not a browser), the request's own host, or one of
// Config.OriginPatterns (matched as coder/websocket matches them). It
// returns the origin to allow by CORS, "" for none.
func (s *Server) allowedOrigin(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return "", true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return "", false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return "", true // same origin: no CORS needed
	}
	for _, p := range s.cfg.OriginPatterns {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return origin, true
		}
	}
	return "", false
}

// hijackStream takes the connection from net/http and writes the stream's
// response head; net/http's buffers and goroutine go, as for a WebSocket
// (the session's reader reads the socket itself). A request with bytes
// behind it is refused: the stream is one-way.
func (s *Server) hijackStream(w http.ResponseWriter, origin string) (*eventStream, error) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "tickgate: /sse needs HTTP/1.1", http.StatusHTTPVersionNotSupported)
		return nil, err
	}
	es := &eventStream{conn: conn}
	es.out.init(conn, s.cfg.WriteTimeout)
	if brw.Reader.Buffered() > 0 {
		es.out.writeData([]byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
			"invalid_request: " + oneWay + "\n"))
		conn.Close()
		return nil, errOneWay
	}
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nX-Accel-Buffering: no\r\nConnection: close\r\n"
	if origin != "" {
		head += "Access-Control-Allow-Origin: " + origin + "\r\nVary: Origin\r\n"
	}
	if err := es.out.writeData([]byte(head + "\r\n")); err != nil {
		conn.Close()
		return nil, err
	}
	return es, nil
}

// oneWay tells a client that sent something on its event stream, before
// its stream (a 400) or during it (the close event's reason), what it did
// wrong.
const oneWay = "an event stream is one-way: send nothing after the request"

// errOneWay is a client that sent something on its event stream.
var errOneWay = errors.New("subscribe: data sent on an event stream")

// eventStream is the transport of a /sse session: the hijacked
// connection, written through out, as a text/event-stream (the HTML
// standard's Server-Sent Events) of one event per batch:
//
//	id: @k3x9f0a1b2c4,AAPL:1042
//	data: {"type":"tick","sym":"AAPL","seq":1042,...}
//	data: {"type":"tick","sym":"AAPL","seq":1043,...}
//
// so an event's data is a WebSocket frame's payload, the same messages
// one a line, and its id the position after it (eventid.go): a browser
// dispatches an event whole or not at all, and its Last-Event-ID is
// exactly what it has. The session ends with a close event.
type eventStream struct {
	conn net.Conn
	out  frameWriter
	ids  positions // the running writer's
	rb   [64]byte  // the reader's
}

var _ transport = (*eventStream)(nil)

// writeBatch writes batch as one event, its id the positions after it.
func (es *eventStream) writeBatch(buf []byte, batch []fanout.Message) ([]byte, int, error) {
	es.ids.follow(batch)
	buf = es.ids.appendID(append(buf, "id: "...))
	buf = append(buf, '\n')
	for i := range batch {
		buf = batch[i].AppendTo(append(buf, "data: "...))
		buf = append(buf, '\n')
	}
	buf = append(buf, '\n')
	return buf, len(buf), es.out.writeData(buf)
}

// read waits for the client to close. Anything it sends breaks the
// stream's one-way rule and ends the session as a protocol error.
func (es *eventStream) read(*session) CloseReason {
	if n, _ := es.conn.Read(es.rb[:]); n > 0 {
		return ReasonProtocolError
	}
	return ReasonClientClosed
}

// heartbeat is the comment an idle stream gets every PingInterval, so
// that proxies do not time it out and a peer that left is found.
var heartbeat = []byte(": heartbeat\n\n")

func (es *eventStream) keepAlive() (CloseReason, bool) {
	if err := es.out.writeData(heartbeat); err != nil {
		return es.out.failure(ReasonClientClosed), false
	}
	return 0, true
}

// close sends the close event for cause, unless the client left, and
// closes the connection. One that stopped reading gets it behind what it
// has not read (lastWord). The close event has no id, so a reconnecting
// EventSource sends the last batch's.
func (es *eventStream) close(cause error) {
	r, text := closeNote(cause)
	if r == ReasonProtocolError {
		text = oneWay
	}
	if r != ReasonClientClosed {
		ev := append([]byte("event: close\ndata: "), encodeReply(closeMessage{Type: "close", Code: int(r.Code()), Reason: text})...)
		es.out.lastWord(append(ev, "\n\n"...))
	}
	es.conn.Close()
}

func (es *eventStream) closeNow() { es.conn.Close() }

// closeMessage is the data of an event stream's close event: the code and
// text a WebSocket's close frame would carry.
type closeMessage struct {
	Type   string `json:"type"` // always "close"
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}
