package subscribe

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// framePool holds frame buffers. A buffer is taken for one write and put
// back right after, so idle connections hold none.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// writeLoop waits for the queue to turn non-empty, then drains it in frames
// of up to MaxFrameBytes until it is empty again: one blocking wait, then
// everything that is ready, one write per frame. It returns when the client
// is closed, after sending the close frame for the cause.
func (s *session) writeLoop(conn *websocket.Conn) {
	var batch []fanout.Message
	for {
		select {
		case <-s.client.Ready():
		case <-s.client.Done():
			s.closeConn(conn)
			return
		}
		for {
			batch = s.client.Drain(batch[:0], s.srv.cfg.MaxFrameBytes)
			if len(batch) == 0 {
				break
			}
			err := s.writeFrame(conn, batch)
			clear(batch) // drop references to shared tick bytes
			if err != nil {
				s.client.Close(ReasonWriteFailed)
				conn.CloseNow()
				return
			}
		}
	}
}

// writeFrame joins batch with '\n' into one text frame and writes it under
// the write deadline.
func (s *session) writeFrame(conn *websocket.Conn, batch []fanout.Message) error {
	bp := framePool.Get().(*[]byte)
	buf := (*bp)[:0]
	for i, m := range batch {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, m.Data...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.srv.cfg.WriteTimeout)
	err := conn.Write(ctx, websocket.MessageText, buf)
	cancel()
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
	switch r {
	case ReasonClientClosed, ReasonTooBig, ReasonPongTimeout:
		// The peer already closed, coder/websocket sent 1009 itself, or
		// the peer stopped answering and would not answer a close either.
		conn.CloseNow()
	default:
		conn.Close(r.Code(), r.closeText())
	}
}
