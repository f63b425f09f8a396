package subscribe

import (
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// CloseReason says why a session ended. One value names the close frame's
// code, the log line and the tickgate_disconnects_total label alike.
type CloseReason uint8

const (
	ReasonClientClosed  CloseReason = iota // the client closed or went away
	ReasonShutdown                         // 1001: gateway draining
	ReasonSlowConsumer                     // 4001: queue overflowed
	ReasonFlood                            // 1008: past the inbound rate limit
	ReasonTooBig                           // 1009: frame past the read limit
	ReasonPongTimeout                      // 4008: no pong in time; closed without waiting for the handshake
	ReasonWriteTimeout                     // 4008: the socket took nothing for WriteTimeout; closed without waiting for the handshake
	ReasonInboundFlood                     // 1008: past the inbound byte or frame budget
	ReasonProtocolError                    // 1002: broke RFC 6455 framing
	ReasonInvalidUTF8                      // 1007: a text message that is not UTF-8
	ReasonAuth                             // 4003: token refused, missing or expired
	ReasonTooManyConns                     // 4029: the token's subject is at max_conns
	numReasons
)

var reasonNames = [numReasons]string{
	"client_closed", "shutdown", "slow_consumer", "flood", "too_big", "pong_timeout", "write_timeout",
	"inbound_flood", "protocol_error", "invalid_utf8", "auth", "too_many_connections",
}

func (r CloseReason) String() string { return reasonNames[r] }

// Error lets a CloseReason be a fanout.Client close cause.
func (r CloseReason) Error() string { return "subscribe: " + r.String() }

// Is makes the reasons after which the peer reads nothing more match
// fanout.ErrPeerGone, so closing the client drops its queue instead of
// writing it into a dead connection: the peer closed or left, stopped
// answering, or the WebSocket library has already sent its close frame
// (1002, 1009).
func (r CloseReason) Is(target error) bool {
	if target != fanout.ErrPeerGone {
		return false
	}
	switch r {
	case ReasonClientClosed, ReasonPongTimeout, ReasonWriteTimeout, ReasonTooBig, ReasonProtocolError:
		return true
	}
	return false
}

// CodeNotReading closes a client that stopped reading: its socket took
// nothing for WriteTimeout, or it answered no ping within PongTimeout.
// The close frame goes into the socket behind what the client has not
// read, without waiting for the handshake, so a client that reads again
// finds out why.
const CodeNotReading websocket.StatusCode = 4008

// Code returns the WebSocket close code sent for r.
func (r CloseReason) Code() websocket.StatusCode {
	switch r {
	case ReasonShutdown:
		return websocket.StatusGoingAway
	case ReasonSlowConsumer:
		return 4001
	case ReasonFlood, ReasonInboundFlood:
		return websocket.StatusPolicyViolation
	case ReasonTooBig:
		return websocket.StatusMessageTooBig
	case ReasonProtocolError:
		return websocket.StatusProtocolError
	case ReasonInvalidUTF8:
		return websocket.StatusInvalidFramePayloadData
	case ReasonAuth:
		return 4003
	case ReasonTooManyConns:
		return 4029
	case ReasonWriteTimeout, ReasonPongTimeout:
		return CodeNotReading
	default:
		return websocket.StatusInternalError
	}
}

// closeText is the close frame's reason text.
func (r CloseReason) closeText() string {
	switch r {
	case ReasonShutdown:
		return "server shutting down"
	case ReasonSlowConsumer:
		return "slow consumer"
	case ReasonFlood:
		return "message rate limit exceeded"
	case ReasonInboundFlood:
		return "inbound rate limit exceeded"
	case ReasonInvalidUTF8:
		return "text message is not valid UTF-8"
	case ReasonTooManyConns:
		return "too many connections for this subject"
	case ReasonWriteTimeout:
		return "write timeout: not reading"
	case ReasonPongTimeout:
		return "pong timeout: not reading"
	default:
		return r.String()
	}
}

// reasonOf maps a fanout.Client close cause to its reason.
func reasonOf(cause error) CloseReason {
	var r CloseReason
	var a *authCause
	switch {
	case errors.As(cause, &r):
		return r
	case errors.As(cause, &a):
		return ReasonAuth
	case errors.Is(cause, fanout.ErrSlowConsumer):
		return ReasonSlowConsumer
	default:
		return ReasonClientClosed
	}
}

// logged reports whether a close for r is worth a warning: the client
// broke a limit or the protocol, or could not keep up. A client that
// left, or a shutdown, is not.
func (r CloseReason) logged() bool {
	switch r {
	case ReasonClientClosed, ReasonShutdown:
		return false
	}
	return true
}

// closeLog writes one warning per close the client caused, at most one a
// second per reason; the next line that goes out counts those held back,
// so a storm of bad clients costs a line a second, and one kind of abuse
// does not hide another.
type closeLog struct {
	log *slog.Logger

	mu      sync.Mutex // protects the fields below
	next    [numReasons]time.Time
	skipped [numReasons]int
}

// closed logs, or counts, the close of the client at remote for r.
func (l *closeLog) closed(r CloseReason, remote netip.Addr) {
	if !r.logged() {
		return
	}
	now := time.Now()
	l.mu.Lock()
	if now.Before(l.next[r]) {
		l.skipped[r]++
		l.mu.Unlock()
		return
	}
	l.next[r] = now.Add(time.Second)
	skipped := l.skipped[r]
	l.skipped[r] = 0
	l.mu.Unlock()
	l.log.Warn("client closed", "reason", r.String(), "code", int(r.Code()), "remote", remote.String(), "not_logged_since", skipped)
}
