package subscribe

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/tickgate/tickgate/fanout"
)

// session is one client, over a WebSocket or an event stream (its
// transport). Its reader goroutine runs the transport's read side and owns
// the client's subscriptions; it handles each message on a goroutine it
// waits for (offReader), which owns them meanwhile. Its writer runs only
// while the client's queue has something to write: the enqueue that finds
// no writer running starts one, and it ends when the queue is empty.
type session struct {
	srv      *Server
	client   *fanout.Client
	wire     transport     // how batches are framed, and the connection ends (transport.go)
	out      *frameWriter  // the connection's writes, one frame at a time
	connSlot               // its address and transport, given back by unregister
	limiter  *rate.Limiter // MsgRate, MsgBurst: past it, rate_limited; nil until the first message
	flood    *rate.Limiter // MsgRate, FloodBurst: past it, closed with 1008; made with limiter
	pinger   *time.Timer

	// The grant (grant.go), owned by the reader: the grant (nil until a
	// token is accepted, and always nil without a Verifier), the timer
	// that closes the session when it expires, and the one that closes a
	// session whose first message is not a token in time.
	grant     *Grant
	expiry    *time.Timer
	firstAuth *time.Timer

	// Owned by the running writer (at most one runs; fanout.Client
	// orders them).
	batch  *[]fanout.Message // from batchPool; nil while no writer runs
	lag    *lag              // the staleness rule (lag.go); nil until the writer first waits or sees the queue conflate
	closed chan struct{}     // closed by the writer that sent the close

	nextReady *session // in its lane's ready list; protected by that lane's mu
}

func newSession(srv *Server, wire transport, out *frameWriter, slot connSlot) *session {
	s := &session{srv: srv, wire: wire, out: out, connSlot: slot, closed: make(chan struct{})}
	lane := srv.lanes.pick()
	s.client = srv.engine.NewClient(func(*fanout.Client) { lane.ready(s) })
	s.client.Enqueue(fanout.Message{Data: welcomeMessage(srv.engine)}) // before anything else
	return s
}

// serve runs the session until either side ends it, then tears it down.
// initial, if not nil, is the subscribe the request asked for. It runs on
// the session's reader goroutine, whose stack is what every idle
// connection keeps: a goroutine's stack only grows, and the collector
// halves it only while under a quarter of it is in use, which a read
// parked in coder/websocket never is below 8 KiB. So the reader only
// reads, with frames kept small along the way (serve, webSocket.read,
// readLoop, meteredReader.Read), and everything deeper runs off it
// (offReader): its stack then stays at the 4 KiB the read itself needs.
func (s *session) serve(initial *request) {
	s.start(initial)
	s.end(s.wire.read(s))
}

// start arms the session's timers and subscribes what the request asked.
func (s *session) start(initial *request) {
	// Assign the timer before arming it: ping re-arms it through s.pinger.
	s.pinger = time.AfterFunc(time.Hour, s.ping)
	s.pinger.Reset(s.srv.cfg.PingInterval)

	if s.srv.cfg.Verifier != nil && s.grant == nil {
		s.firstAuth = time.AfterFunc(s.srv.cfg.FirstMessageTimeout, s.tokenMissing)
	}
	if initial != nil {
		offReader(func() error { s.subscribe(*initial); return nil })
	}
}

// end tears the session down once its read side ended for reason.
func (s *session) end(read CloseReason) {
	s.client.Close(read) // starts a writer, if none runs, to send the close
	// Leave the engine now, not once the writer is done: with a peer that
	// stopped reading, its last write can stall for WriteTimeout.
	s.srv.engine.UnsubscribeAll(s.client)

	s.pinger.Stop()
	s.releaseGrant()
	<-s.closed
	reason := reasonOf(s.client.Cause())
	if reason == ReasonClientClosed {
		// A write that failed first saw only the connection go (after a
		// framing error coder/websocket closes it itself): the read side
		// knows why.
		reason = read
	}
	// The warning goes out before the count: whoever sees the count can
	// find the line.
	s.srv.closes.closed(reason, s.ip)
	s.srv.metrics.disconnects[s.kind][reason].Inc()
}

// readLoop handles client messages until the connection fails or a flood
// ends it. Replies go through the client's queue, behind queued ticks.
// Every message counts against both limiters: one past MsgBurst is
// answered rate_limited and dropped, one past FloodBurst (more than
// MsgRate*t + FloodBurst messages in some t seconds) ends the session.
// They judge at read time. A reader short of CPU reads a backlog at once,
// and the time the client sent each message cannot be had back: TCP
// merges a backlog into one buffer, and the kernel's receive timestamp
// (SO_TIMESTAMPNS) then gives one time for all of it. So the close needs
// FloodBurst messages of excess, far more than a starved reader's backlog
// of a well-behaved client holds.
func (s *session) readLoop(conn *websocket.Conn) error {
	ctx := context.Background()
	for {
		typ, b, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		if err := offReader(func() error { return s.message(typ, b) }); err != nil {
			return err
		}
	}
}

// message judges and answers one client message; an error ends the
// session.
func (s *session) message(typ websocket.MessageType, b []byte) error {
	// The buckets are made at the first message, full, as they would be
	// by now: a session that never sends one, as a ?symbols= dashboard
	// need not, holds neither.
	if s.limiter == nil {
		cfg := &s.srv.cfg
		s.limiter = rate.NewLimiter(rate.Limit(cfg.MsgRate), cfg.MsgBurst)
		s.flood = rate.NewLimiter(rate.Limit(cfg.MsgRate), cfg.FloodBurst)
	}
	now := time.Now()
	if !s.flood.AllowN(now, 1) {
		return ReasonFlood
	}
	if !s.limiter.AllowN(now, 1) {
		s.replyError(nil, errorf(CodeRateLimited, "over %g messages/s; slow down", s.srv.cfg.MsgRate))
		return nil
	}
	if typ != websocket.MessageText {
		s.replyError(nil, errorf(CodeInvalidRequest, "send JSON in text frames"))
		return nil
	}
	if !utf8.Valid(b) {
		return ReasonInvalidUTF8 // RFC 6455 8.1: fail the connection
	}
	s.handle(b)
	return nil
}

// offReader runs f on a goroutine of its own and waits for it, so that
// however deep f goes (JSON, the engine's subscribe: 8 KiB and more), the
// reader's stack does not grow (serve). It costs a goroutine start per
// client message; the reader still handles one message at a time.
func offReader(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return <-done
}

// handle answers one client message.
func (s *session) handle(b []byte) {
	req, perr := decodeRequest(b)
	if perr != nil {
		s.replyError(req.ID, perr)
		return
	}
	if s.srv.cfg.Verifier != nil && s.grant == nil && req.Op != "auth" {
		s.firstAuth.Stop()
		s.tokenMissing() // the first message must be the token
		return
	}
	switch req.Op {
	case "auth":
		s.authenticate(req)
	case "subscribe":
		s.subscribe(req)
	case "unsubscribe":
		s.unsubscribe(req.ID, req.stream, req.Symbols)
	case "list":
		s.list(req.ID)
	}
}

// list answers with the symbols held on each stream.
func (s *session) list(id *int64) {
	streams := make(map[string][]string, len(fanout.Streams()))
	for _, st := range fanout.Streams() {
		streams[st.String()] = s.srv.engine.SymbolsOf(s.client, st) // never nil
	}
	s.reply(reply{Type: "list", ID: id, Symbols: streams[fanout.Ticks.String()], Streams: streams})
}

// subscribe checks the request's symbols and subscribes them. The engine
// queues the "subscribed" reply, which names the symbols recovered and
// those given a snapshot, ahead of each symbol's first tick on the wire.
func (s *session) subscribe(req request) {
	syms, perr := s.srv.resolve(s, s.grant, req.stream, req.Symbols)
	if perr != nil {
		s.replyError(req.ID, perr)
		return
	}
	encode := func(r fanout.Result) []byte {
		rep := reply{Type: "subscribed", ID: req.ID, Stream: req.stream.String(), Symbols: nonNil(syms), MaxRate: r.Rate}
		if req.Since != nil {
			rep.Recovered, rep.Snapshot = nonNil(r.Recovered), nonNil(r.Snapshot)
		}
		rep.Epochs = r.Epochs
		return encodeReply(rep)
	}
	if _, err := s.srv.engine.Subscribe(s.client, syms, req.policy(s.grant), encode); err != nil {
		s.replyError(req.ID, subscribeError(err))
	}
}

// policy is what the engine is asked for by req, under the grant g (nil:
// no entitlements, realtime).
func (req *request) policy(g *Grant) fanout.Policy {
	return fanout.Policy{
		Stream:  req.stream,
		MaxRate: req.MaxRate,
		Since:   req.Since,
		History: req.History,
		Partial: req.Partial,
		Delayed: g != nil && g.Tier == Delayed,
	}
}

// subscribeError maps an error of fanout.Engine.Subscribe, which alone
// judges a policy, to its error code; its message is the engine's, less
// the package prefix.
func subscribeError(err error) *protoError {
	code := CodeInvalidRequest
	switch {
	case errors.Is(err, fanout.ErrUnknownSymbol):
		code = CodeUnknownSymbol
	case errors.Is(err, fanout.ErrUnknownStream):
		code = CodeUnknownStream
	}
	return errorf(code, "%s", strings.TrimPrefix(err.Error(), "fanout: "))
}

func (s *session) unsubscribe(id *int64, st fanout.Stream, syms []string) {
	if slices.Contains(syms, Wildcard) {
		syms = s.srv.engine.SymbolsOf(s.client, st)
	}
	for _, sym := range syms {
		if !s.srv.engine.Known(sym) {
			s.replyError(id, errorf(CodeUnknownSymbol, "unknown symbol %q", truncate(sym, 32)))
			return
		}
	}
	removed := s.srv.engine.Unsubscribe(s.client, st, syms)
	s.reply(reply{Type: "unsubscribed", ID: id, Stream: st.String(), Symbols: nonNil(removed)})
}

// maxEchoed is how many unknown symbols an error names; it says how many
// more there were, so a huge bad list gets a short answer.
const maxEchoed = 10

// resolve expands "*", drops duplicates and checks every symbol, the
// grant g (nil: no entitlements) and the per-connection limit, which
// counts (stream, symbol) subscriptions. sess is nil for a ?symbols= list
// before upgrade.
func (s *Server) resolve(sess *session, g *Grant, st fanout.Stream, syms []string) ([]string, *protoError) {
	wildcard := slices.Contains(syms, Wildcard)
	if wildcard {
		if s.cfg.ForbidWildcard {
			return nil, errorf(CodeWildcardForbidden, "subscribing to \"*\" is disabled on this gateway")
		}
		syms = s.engine.Symbols()
	}
	syms, perr := s.entitled(g, st, syms, wildcard)
	if perr != nil {
		return nil, perr
	}
	var out, unknown []string
	nUnknown := 0
	seen := make(map[string]struct{}, len(syms))
	for _, sym := range syms {
		if _, dup := seen[sym]; dup {
			continue
		}
		seen[sym] = struct{}{}
		if !s.engine.Known(sym) {
			if nUnknown++; nUnknown <= maxEchoed {
				unknown = append(unknown, truncate(sym, 32))
			}
			continue
		}
		out = append(out, sym)
	}
	if nUnknown > maxEchoed {
		return nil, errorf(CodeUnknownSymbol, "unknown symbols %q and %d more; GET /symbols lists them", unknown, nUnknown-maxEchoed)
	}
	if nUnknown > 0 {
		return nil, errorf(CodeUnknownSymbol, "unknown symbols %q; GET /symbols lists them", unknown)
	}
	held := 0 // subscriptions the session keeps that this request does not name
	if sess != nil {
		held = s.engine.SubscriptionsOf(sess.client)
		for _, sym := range s.engine.SymbolsOf(sess.client, st) {
			if _, requested := seen[sym]; requested {
				held--
			}
		}
	}
	if held+len(out) > s.cfg.MaxSymbols {
		return nil, errorf(CodeTooManySymbols, "%d subscriptions would pass the limit of %d per connection", held+len(out), s.cfg.MaxSymbols)
	}
	return out, nil
}

func (s *session) replyError(id *int64, perr *protoError) {
	s.srv.metrics.errors[perr.code].Inc()
	s.reply(errorReply{Type: "error", ID: id, Code: perr.code, Msg: perr.msg})
}

// reply queues a reply or errorReply behind whatever is already queued.
func (s *session) reply(r any) bool {
	return s.client.Enqueue(fanout.Message{Data: encodeReply(r)})
}

// ping keeps the connection alive (a ping and its pong, or a heartbeat)
// and re-arms itself; a peer found gone closes the client. It runs on a
// timer goroutine, so no goroutine waits between pings.
func (s *session) ping() {
	if r, ok := s.wire.keepAlive(); !ok {
		s.client.Close(r)
		return
	}
	select {
	case <-s.client.Done():
	default:
		s.pinger.Reset(s.srv.cfg.PingInterval)
	}
}

// abort ends the session without a close handshake.
func (s *session) abort() {
	s.client.Close(ReasonShutdown)
	s.wire.closeNow()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
