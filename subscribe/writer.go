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

// writeLoop waits for the queue to turn non-empty, then drains it in frames
// of up to MaxFrameBytes until it is empty again: one blocking wait, then
// everything that is ready, one write per frame. When the client is closed
// it flushes what is queued (unless the cause is a full queue), sends the
// close frame for the cause and returns.
func (s *session) writeLoop(conn *websocket.Conn) {
	var batch []fanout.Message
	for {
		select {
		case <-s.client.Ready():
		case <-s.client.Done():
			if reasonOf(s.client.Cause()) != ReasonSlowConsumer {
				if _, err := s.flush(conn, batch); err != nil {
					conn.CloseNow()
					return
				}
			}
			s.closeConn(conn)
			return
		}
		var err error
		if batch, err = s.flush(conn, batch); err != nil {
			reason := ReasonClientClosed
			if errors.Is(err, context.DeadlineExceeded) {
				reason = ReasonWriteTimeout
			}
			s.client.Close(reason)
			conn.CloseNow()
			return
		}
	}
}

// flush writes frames until the queue is empty. It returns batch, emptied,
// for reuse.
func (s *session) flush(conn *websocket.Conn, batch []fanout.Message) ([]fanout.Message, error) {
	for {
		batch = s.client.Drain(batch[:0], s.srv.cfg.MaxFrameBytes)
		if len(batch) == 0 {
			return batch, nil
		}
		err := s.writeFrame(conn, batch)
		clear(batch) // drop references to shared tick bytes
		if err != nil {
			return batch, err
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
	case ReasonClientClosed, ReasonTooBig, ReasonPongTimeout, ReasonWriteTimeout:
		// The peer already closed, coder/websocket sent 1009 itself, or
		// the peer stopped answering and would not answer a close either.
		conn.CloseNow()
	default:
		conn.Close(r.Code(), r.closeText())
	}
}
