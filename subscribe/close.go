package subscribe

import (
	"errors"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// CloseReason says why a session ended. One value names the close frame's
// code, the log line and the tickgate_disconnects_total label alike.
type CloseReason uint8

const (
	ReasonClientClosed CloseReason = iota // the client closed or went away
	ReasonShutdown                        // 1001: gateway draining
	ReasonSlowConsumer                    // 4001: queue overflowed
	ReasonFlood                           // 1008: past the inbound rate limit
	ReasonTooBig                          // 1009: frame past the read limit
	ReasonPongTimeout                     // no pong in time; closed without a handshake
	ReasonWriteTimeout                    // a frame write stalled past WriteTimeout
	ReasonAuth                            // 4003: token refused, missing or expired
	ReasonTooManyConns                    // 4029: the token's subject is at max_conns
	numReasons
)

var reasonNames = [numReasons]string{
	"client_closed", "shutdown", "slow_consumer", "flood", "too_big", "pong_timeout", "write_timeout",
	"auth", "too_many_connections",
}

func (r CloseReason) String() string { return reasonNames[r] }

// Error lets a CloseReason be a fanout.Client close cause.
func (r CloseReason) Error() string { return "subscribe: " + r.String() }

// Code returns the WebSocket close code sent for r.
func (r CloseReason) Code() websocket.StatusCode {
	switch r {
	case ReasonShutdown:
		return websocket.StatusGoingAway
	case ReasonSlowConsumer:
		return 4001
	case ReasonFlood:
		return websocket.StatusPolicyViolation
	case ReasonTooBig:
		return websocket.StatusMessageTooBig
	case ReasonAuth:
		return 4003
	case ReasonTooManyConns:
		return 4029
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
	case ReasonTooManyConns:
		return "too many connections for this subject"
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
