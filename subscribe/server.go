package subscribe

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
)

// Config sets the per-connection limits. The zero value of each field picks
// the default its comment names.
type Config struct {
	// MaxConnections caps concurrent sessions; past it /ws answers 503
	// before the upgrade. 0 means 10,000.
	MaxConnections int
	// MaxConnectionsPerIP caps concurrent sessions from one client
	// address (clientIP); past it /ws answers 429 before the upgrade.
	// 0 means no limit.
	MaxConnectionsPerIP int
	// ClientIPHeader names a header in which a proxy passes the client's
	// address (X-Forwarded-For, X-Real-IP). It is believed only from a
	// peer inside TrustedProxies. Empty means the peer address is the
	// client's.
	ClientIPHeader string
	TrustedProxies []netip.Prefix
	// MaxSymbols caps the symbols one connection holds. 0 means 500.
	MaxSymbols int
	// ForbidWildcard rejects subscriptions to "*". false allows them.
	ForbidWildcard bool
	// ReadLimit is the largest inbound message in bytes; a larger one
	// closes the connection with 1009. 0 means 4096.
	ReadLimit int64
	// MsgRate and MsgBurst limit inbound messages per second per
	// connection: a message past them gets a rate_limited error and is
	// dropped. FloodBurst is the burst of the same rate past which the
	// connection is closed with 1008: more than MsgRate*t + FloodBurst
	// messages in any t seconds. 0 means 10/s, 50 and 500.
	MsgRate    float64
	MsgBurst   int
	FloodBurst int
	// InboundBytes and InboundFrames bound everything a connection sends,
	// below the WebSocket protocol: bytes per second, frame headers
	// included, and frames per second of any kind, control and empty
	// frames included. Each may be overdrawn by InboundWindow's worth at
	// once; a connection that overdraws either is closed with 1008.
	// 0 means 65536 bytes/s, 100 frames/s and 10 s.
	InboundBytes  float64
	InboundFrames float64
	InboundWindow time.Duration
	// MaxFrameBytes caps the frame the writer builds from queued messages
	// and their '\n' separators (one message larger than it goes alone).
	// 0 means 32 KiB, the default read limit of common client libraries.
	MaxFrameBytes int
	// WriteTimeout bounds how long a socket write may wait for the peer to
	// take data, from the moment it would block; past it the connection
	// is closed (write_timeout). 0 means 5 s.
	WriteTimeout time.Duration
	// MaxStaleness is how far behind a client may fall before its queue
	// conflates: when what it has queued, and what its socket holds
	// unacknowledged, would take longer than this to reach it at the rate
	// its link has been draining (lag.go). It goes live again once it
	// has kept up for ten times as long. 0 means 1 s.
	MaxStaleness time.Duration
	// PingInterval is the time between server pings; PongTimeout is how
	// long a pong may take. 0 means 20 s and 10 s.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// OriginPatterns are the browser origins allowed besides the request's
	// own host (coder/websocket AcceptOptions.OriginPatterns). nil means
	// DefaultOriginPatterns.
	OriginPatterns []string
	// Verifier checks tokens (admit.go, grant.go); nil means no
	// authentication: every client sees every symbol in real time.
	Verifier Verifier
	// FirstMessageTimeout is how long a client that connected without a
	// token has to send {"op":"auth"}; 0 means 5 s.
	FirstMessageTimeout time.Duration
}

// DefaultOriginPatterns allow pages served from localhost on any port.
var DefaultOriginPatterns = []string{"localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*"}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxConnections, 10000)
	def(&c.MaxSymbols, 500)
	def(&c.MsgBurst, 50)
	def(&c.FloodBurst, max(500, c.MsgBurst))
	def(&c.MaxFrameBytes, 32<<10)
	if c.ReadLimit <= 0 {
		c.ReadLimit = 4096
	}
	if c.MsgRate <= 0 {
		c.MsgRate = 10
	}
	if c.InboundBytes <= 0 {
		c.InboundBytes = 64 << 10
	}
	if c.InboundFrames <= 0 {
		c.InboundFrames = 100
	}
	dur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	dur(&c.WriteTimeout, 5*time.Second)
	dur(&c.MaxStaleness, time.Second)
	dur(&c.PingInterval, 20*time.Second)
	dur(&c.PongTimeout, 10*time.Second)
	dur(&c.FirstMessageTimeout, 5*time.Second)
	dur(&c.InboundWindow, 10*time.Second)
	if c.OriginPatterns == nil {
		c.OriginPatterns = DefaultOriginPatterns
	}
}

// Server is the /ws handler. It tracks its sessions so Drain can close them.
type Server struct {
	cfg     Config
	engine  *fanout.Engine
	log     *slog.Logger
	metrics *metrics
	accept  websocket.AcceptOptions
	closes  closeLog // warns of closes the client caused
	perIP   ipSlots
	// countsAtAccept: connections from direct peers hold their address's
	// slot from their accept (Listener); set before serving.
	countsAtAccept atomic.Bool

	conns atomic.Int64                // connection slots taken, every transport
	open  [numTransports]atomic.Int64 // of them, per transport (tickgate_connections)
	wg    sync.WaitGroup              // one per running session
	lanes *writeLanes                 // run the sessions' writers

	mu          sync.Mutex // protects the fields below
	sessions    map[*session]struct{}
	draining    bool
	subjects    map[string]int // connections per grant subject with MaxConns
	feedDown    bool           // see SetFeedUp
	feedRunning bool           // see SetFeedRunning
	feedEnded   bool           // Run returned after running: see SetFeedRunning
}

// NewServer returns a Server that subscribes clients on engine and
// registers its metrics with reg.
func NewServer(cfg Config, engine *fanout.Engine, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	cfg.setDefaults()
	s := &Server{
		cfg:      cfg,
		engine:   engine,
		log:      log.With("subsystem", "subscribe"),
		accept:   websocket.AcceptOptions{OriginPatterns: cfg.OriginPatterns},
		perIP:    ipSlots{max: cfg.MaxConnectionsPerIP, n: make(map[netip.Addr]int)},
		sessions: make(map[*session]struct{}),
		subjects: make(map[string]int),
		lanes:    newWriteLanes(runtime.GOMAXPROCS(0)),
	}
	s.closes.log = s.log
	m, err := newMetrics(reg, &s.open)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	return s, nil
}

// ServeHTTP upgrades /ws requests that admit lets through (admit.go), and
// runs each as a session subscribed to its ?symbols=.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a, ok := s.admit(w, r, overWebSocket)
	if !ok {
		return
	}
	h := &hijacker{ResponseWriter: w, limits: meterLimits{s.cfg.InboundBytes, s.cfg.InboundFrames, s.cfg.InboundWindow}, writeTimeout: s.cfg.WriteTimeout}
	conn, err := websocket.Accept(h, r, &s.accept)
	if err != nil {
		s.release(a) // Accept has answered the request
		return
	}
	conn.SetReadLimit(s.cfg.ReadLimit)
	ws := &webSocket{conn: conn, in: &h.conn.in, out: &h.conn.out, pongTimeout: s.cfg.PongTimeout}
	var initial *request
	if a.initial != nil {
		initial = &request{Symbols: a.initial}
	}
	s.start(newSession(s, ws, &h.conn.out, a.connSlot), a, initial)
}

// start runs sess, admitted as a, on a goroutine of its own, subscribed
// to initial (nil: nothing yet), unless the server is draining: then it
// is closed with 1001 at once.
func (s *Server) start(sess *session, a admission, initial *request) {
	if a.grant != nil {
		sess.setGrant(a.grant)
	}
	if !s.register(sess) {
		s.releaseConnSlot(a.connSlot)
		sess.releaseGrant()
		sess.wire.close(ReasonShutdown)
		return
	}
	// The handler that called start returns: net/http then lets go of its
	// connection goroutine, request and response, which an idle
	// connection would otherwise keep for life.
	go func() {
		defer s.unregister(sess)
		sess.serve(initial)
	}()
}

// release gives back what admit took, for a request refused after it.
func (s *Server) release(a admission) {
	s.releaseConnSlot(a.connSlot)
	s.releaseSubjectSlot(a.grant)
}

func (s *Server) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// register adds a session unless the server is draining.
func (s *Server) register(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.greetLocked(sess)
	return true
}

// unregister removes a session and releases its connection slot.
func (s *Server) unregister(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.releaseConnSlot(sess.connSlot)
	s.wg.Done()
}

// Connections reports the open sessions, WebSocket and event stream.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// Drain refuses new sessions and turns Ready off, then closes the open ones with 1001, spread
// over window so clients do not all reconnect at once, and waits for them
// to end. The last close goes out handshakeReserve(window) before the
// window ends, so a responsive client's close handshake ends inside it too.
// It returns ctx.Err() if ctx ends first.
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	s.mu.Lock()
	s.draining = true
	open := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		open = append(open, sess)
	}
	s.mu.Unlock()

	start := time.Now()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	err := closeSpread(ctx, len(open), window-handshakeReserve(window), func(i int) {
		open[i].client.Close(ReasonShutdown)
	})
	lastClose := time.Since(start)
	if err == nil {
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		s.mu.Lock()
		for sess := range s.sessions {
			sess.abort()
		}
		s.mu.Unlock()
		<-done
	}
	s.log.Info("drained", "sessions", len(open), "window", window, "last_close_after", lastClose, "took", time.Since(start))
	return err
}

// handshakeReserve is the end of a drain window kept free of new closes for
// the handshakes of the last ones: a tenth of it, at most a second.
func handshakeReserve(window time.Duration) time.Duration {
	return min(window/10, time.Second)
}

// closeSpread calls closeOne(i) for each of n sessions, the first at once and
// the rest at even steps over spread. Each close is due at a time fixed
// from the start rather than a step after the previous one: stepping added
// each close's own cost and the timer's lateness to every close after it,
// which with 500 clients pushed the last close 0.6 s past the window.
func closeSpread(ctx context.Context, n int, spread time.Duration, closeOne func(i int)) error {
	start := time.Now()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for i := range n {
		due := start.Add(spread * time.Duration(i) / time.Duration(n))
		if wait := time.Until(due); wait > 0 {
			t.Reset(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		closeOne(i)
	}
	return nil
}
