package subscribe

import (
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// framePool holds frame buffers. A buffer is taken for one write and put
// back right after, so idle connections hold none.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// batchPool holds batch buffers. A writer takes one at its first batch
// and puts it back when Next finds the queue empty, so only sessions
// being written hold one: a busy session's grows to a frame's worth of
// messages, a few hundred at 48 bytes each, which every session kept for
// life.
var batchPool = sync.Pool{New: func() any { return new([]fanout.Message) }}

// writeOnLane writes s's queue on the lane worker w (lanes.go): frame
// after frame until Next finds the queue empty, the writer's usual end.
// Whatever may wait on the peer leaves the lane: a close to send or a
// failed write goes to a goroutine of its own, and if w was detached during
// a write (that socket would block), w itself becomes s's own writer.
func (s *session) writeOnLane(w *laneWorker) {
	for {
		batch, closed := s.next()
		if len(batch) == 0 {
			if closed {
				go s.write() // sends the close
			}
			return
		}
		out := s.out
		out.worker.Store(w)
		if out.blocked.Load() {
			w.detach() // another write on this socket waits already
		}
		err := s.writeFrame(batch)
		out.worker.Store(nil)
		clear(batch) // drop references to shared tick bytes
		switch {
		case w.detached.Load():
			s.writeAfter(err)
			return
		case err != nil:
			go s.writeAfter(err)
			return
		}
	}
}

// write is a writer of the session's own goroutine. It drains whatever is
// queued, up to MaxFrameBytes per frame, and repeats until Next finds the
// queue empty. If the client was closed it then sends the close frame for
// the cause; queued replies and ticks are flushed first, except a slow
// consumer's, which fanout has already dropped.
func (s *session) write() { s.writeAfter(nil) }

// writeAfter is write after a frame write that returned err.
func (s *session) writeAfter(err error) {
	conn := s.conn
	for {
		if err != nil {
			reason := ReasonClientClosed
			if s.out.stalled.Load() {
				reason = ReasonWriteTimeout
			}
			s.client.Close(reason) // this writer goes on to drain and close
			conn.CloseNow()
		}
		batch, closed := s.next()
		if len(batch) == 0 {
			if closed {
				s.closeConn(conn)
				close(s.closed)
			}
			return
		}
		err = s.writeFrame(batch)
		clear(batch) // drop references to shared tick bytes
	}
}

// next takes the next batch from the client's queue into the writer's
// batch buffer. An empty batch ends this writer: it must not touch the
// session's writer state after that, since the next writer may start. So
// the buffer leaves the session before Next, and an ending writer puts it
// back in the pool itself.
func (s *session) next() (batch []fanout.Message, closed bool) {
	bp := s.batch
	s.batch = nil
	if bp == nil {
		bp = batchPool.Get().(*[]fanout.Message)
	}
	batch, closed = s.client.Next((*bp)[:0], s.srv.cfg.MaxFrameBytes)
	*bp = batch // grown, maybe
	if len(batch) == 0 {
		batchPool.Put(bp)
		return nil, closed
	}
	s.batch = bp // still this writer's
	return batch, closed
}

// writeFrame joins batch with '\n' into one text frame and writes it
// itself, header and payload in one write (outbound.go); a write the peer
// stops taking fails after WriteTimeout, and one after the close frame
// fails with net.ErrClosed.
func (s *session) writeFrame(batch []fanout.Message) error {
	bp := framePool.Get().(*[]byte)
	buf := (*bp)[:maxHeader] // room for the header, filled by writeText
	for i := range batch {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = batch[i].AppendTo(buf)
	}
	err := s.out.writeText(buf)
	n := len(buf) - maxHeader
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
