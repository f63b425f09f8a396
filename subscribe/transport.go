package subscribe

import (
	"context"
	"errors"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// transport is what a session's connection adds to the one path every
// client takes (admission, the engine, the client's queue, the writer on
// its lane, the frameWriter): how a batch of messages is framed, what the
// connection reads, how it is kept alive, and how it ends. A WebSocket
// (/ws, webSocket below) frames a batch as one text frame and reads
// requests; an event stream (/sse, sse.go) frames it as one event and
// reads nothing.
type transport interface {
	// writeBatch frames batch into buf, which the caller hands over
	// empty and takes back (grown, maybe) with the payload's length, and
	// writes it through the session's frameWriter. Only the session's
	// writer calls it.
	writeBatch(buf []byte, batch []fanout.Message) (out []byte, n int, err error)
	// read runs the connection's read side on the session's reader
	// goroutine until the connection ends, and says why.
	read(s *session) CloseReason
	// keepAlive runs every Config.PingInterval on a timer goroutine: a
	// ping that waits for its pong, or a heartbeat. It reports false, with
	// the reason to close the session, if the peer is gone.
	keepAlive() (CloseReason, bool)
	// close sends the session's last word for cause, the client's close
	// cause (a close frame, a close event, or nothing to a peer that
	// would not read it), and closes the connection. The writer that
	// found the client closed calls it, once.
	close(cause error)
	// closeNow closes the connection at once, with no last word.
	closeNow()
}

// transportKind is a transport's value of the transport label of
// tickgate_connections, tickgate_disconnects_total,
// tickgate_connections_rejected_total, tickgate_frames_sent_total and
// tickgate_bytes_sent_total.
type transportKind uint8

const (
	overWebSocket transportKind = iota
	overSSE
	numTransports
)

var transportNames = [numTransports]string{"ws", "sse"}

func (k transportKind) String() string { return transportNames[k] }

// closeNote is what a session's last word says for cause: its reason,
// and the text of the close frame or event (a refused or expired token
// names its reason).
func closeNote(cause error) (CloseReason, string) {
	r := reasonOf(cause)
	var a *authCause
	if errors.As(cause, &a) {
		return r, "token " + a.reason
	}
	return r, r.closeText()
}

// webSocket is the transport of a /ws session: coder/websocket's Conn
// over the hijacked connection (accept.go), which reads through in and
// writes through out.
type webSocket struct {
	conn        *websocket.Conn
	in          *meteredReader
	out         *frameWriter
	pongTimeout time.Duration
}

var _ transport = (*webSocket)(nil)

// writeBatch joins batch with '\n' into one text frame and writes it
// itself, header and payload in one write (outbound.go); a write the peer
// stops taking fails after WriteTimeout, and one after the close frame
// fails with net.ErrClosed.
func (w *webSocket) writeBatch(buf []byte, batch []fanout.Message) ([]byte, int, error) {
	buf = buf[:maxHeader] // room for the header, filled by writeText
	for i := range batch {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = batch[i].AppendTo(buf)
	}
	return buf, len(buf) - maxHeader, w.out.writeText(buf)
}

// read runs the session's read loop (session.go) and maps the error that
// ended it to a close reason. An idle session's reader waits under it, so
// the mapping is a call of its own, off the stack while it waits
// (session.serve).
func (w *webSocket) read(s *session) CloseReason {
	return w.readReason(s.readLoop(w.conn))
}

// readReason maps the error that ended the read loop to a close reason.
func (w *webSocket) readReason(err error) CloseReason {
	var r CloseReason
	switch {
	case errors.As(err, &r):
		return r
	case errors.Is(err, websocket.ErrMessageTooBig):
		return ReasonTooBig
	case w.in.protocolError():
		return ReasonProtocolError
	default:
		return ReasonClientClosed
	}
}

// keepAlive sends a ping and waits up to pongTimeout for its pong.
func (w *webSocket) keepAlive() (CloseReason, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), w.pongTimeout)
	defer cancel()
	if err := w.conn.Ping(ctx); err != nil {
		return w.out.failure(ReasonPongTimeout), false
	}
	return 0, true
}

// close sends the close frame for cause and waits for the handshake
// (bounded by coder/websocket at 5 s each way). A peer that stopped
// reading gets its close frame behind what it has not read, and the
// connection is closed at once: it would not answer the handshake.
func (w *webSocket) close(cause error) {
	r, text := closeNote(cause)
	switch r {
	case ReasonClientClosed, ReasonTooBig, ReasonProtocolError:
		// The peer already closed, or coder/websocket sent 1009 or 1002
		// itself.
		w.conn.CloseNow()
	case ReasonPongTimeout, ReasonWriteTimeout:
		w.out.lastWord(closeFrame(r.Code(), text))
		w.conn.CloseNow()
	default:
		w.conn.Close(r.Code(), text)
	}
}

// closeFrame is a close frame (RFC 6455 5.5.1) with code and text, which
// must be at most 123 bytes.
func closeFrame(code websocket.StatusCode, text string) []byte {
	f := []byte{0x88, byte(2 + len(text)), byte(code >> 8), byte(code)}
	return append(f, text...)
}

func (w *webSocket) closeNow() { w.conn.CloseNow() }
