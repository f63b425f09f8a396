package subscribe

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// framePool holds frame buffers. A buffer is taken for one write and put
// back right after, so idle connections hold none.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// write is the session's writer. It runs while the client's queue has
// something in it: it drains whatever is queued, up to MaxFrameBytes, writes
// it as one frame, and repeats until Next finds the queue empty. If the
// client was closed it then sends the close frame for the cause; queued
// replies and ticks are flushed first, except a slow consumer's, which
// fanout has already dropped.
func (s *session) write() {
	conn := s.conn
	batch := s.batch
	for {
		// Hand the buffer back before Next, which may end this writer and
		// let the next one start.
		s.batch = batch[:0]
		var closed bool
		batch, closed = s.client.Next(batch[:0], s.srv.cfg.MaxFrameBytes)
		if len(batch) == 0 {
			if closed {
				s.closeConn(conn)
				close(s.closed)
			}
			return
		}
		err := s.writeFrame(conn, batch)
		clear(batch) // drop references to shared tick bytes
		if err != nil {
			reason := ReasonClientClosed
			if s.in.stalled.Load() {
				reason = ReasonWriteTimeout
			}
			s.client.Close(reason) // this writer goes on to drain and close
			conn.CloseNow()
		}
	}
}

// writeFrame joins batch with '\n' into one text frame and writes it; a
// write the peer stops taking fails after WriteTimeout.
func (s *session) writeFrame(conn *websocket.Conn, batch []fanout.Message) error {
	bp := framePool.Get().(*[]byte)
	buf := (*bp)[:0]
	for i := range batch {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = batch[i].AppendTo(buf)
	}
	// No deadline here: the inboundConn under conn arms one only when the
	// socket would block (outbound.go). A context with a deadline would
	// cost coder/websocket a context.AfterFunc per frame.
	err := conn.Write(context.Background(), websocket.MessageText, buf)
	n := len(buf)
	*bp = buf
	framePool.Put(bp)
	if err != nil {
		return err
	}
	s.srv.metrics.frameWritten(batch, n, time.Now().UnixNano())
	return nil
}

// closeConn sends the close frame for the client's cause and waits for the
// handshake (bounded by coder/websocket at 5 s each way).
func (s *session) closeConn(conn *websocket.Conn) {
	r := reasonOf(s.client.Cause())
	var a *authCause
	if errors.As(s.client.Cause(), &a) {
		conn.Close(r.Code(), "token "+a.reason)
		return
	}
	switch r {
	case ReasonClientClosed, ReasonTooBig, ReasonProtocolError, ReasonPongTimeout, ReasonWriteTimeout:
		// The peer already closed, coder/websocket sent 1009 or 1002
		// itself, or the peer stopped answering and would not answer a
		// close either.
		conn.CloseNow()
	default:
		conn.Close(r.Code(), r.closeText())
	}
}
