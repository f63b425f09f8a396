package subscribe

import (
	"sync"
	"time"

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
// queue empty. If the client was closed it then has the transport send
// its last word for the cause (a close frame or event) and close the
// connection; queued replies and ticks are flushed first, except a slow
// consumer's, which fanout has already dropped.
func (s *session) write() { s.writeAfter(nil) }

// writeAfter is write after a frame write that returned err.
func (s *session) writeAfter(err error) {
	for {
		if err != nil {
			reason := ReasonClientClosed
			if s.out.stalled.Load() {
				reason = ReasonWriteTimeout
			}
			s.client.Close(reason) // this writer goes on to drain and close
			s.wire.closeNow()
		}
		batch, closed := s.next()
		if len(batch) == 0 {
			if closed {
				s.wire.close(s.client.Cause())
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

// writeFrame frames batch as its transport does (one WebSocket frame, one
// event) in a buffer from the pool, writes it and counts it.
func (s *session) writeFrame(batch []fanout.Message) error {
	bp := framePool.Get().(*[]byte)
	buf, n, err := s.wire.writeBatch((*bp)[:0], batch)
	*bp = buf
	framePool.Put(bp)
	if err != nil {
		return err
	}
	s.srv.metrics.frameWritten(s.kind, batch, n, time.Now().UnixNano())
	return nil
}
