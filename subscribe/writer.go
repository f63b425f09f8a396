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
// a write (that socket would block), or s's socket has been found full of
// late (paced), w itself becomes s's own writer, which waits for the
// socket before each frame (writeAfter).
func (s *session) writeOnLane(w *laneWorker) {
	for {
		if s.out.paced.Load() {
			w.detach()
			s.writeAfter(nil)
			return
		}
		batch, closed := s.next(s.srv.cfg.MaxFrameBytes)
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
		if s.client.Conflating() {
			s.maybeLive(s.lagOf(), time.Now())
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

// writeAfter is write after a frame write that returned err. Its writer
// found the socket full (or is the one sending the close), so before each
// frame it waits until the socket would take one, and then takes at most
// that much from the queue (pace): what the link cannot carry yet stays
// queued, where it can be conflated.
func (s *session) writeAfter(err error) {
	if s.lag != nil {
		s.lag.at = time.Time{} // a new paced run
	}
	for {
		if err != nil {
			// This writer goes on to drain and close: a write timeout with
			// its close frame or event, behind what the peer has not read.
			reason := s.out.failure(ReasonClientClosed)
			s.client.Close(reason)
			if reason != ReasonWriteTimeout {
				s.wire.closeNow()
			}
		}
		if err = s.pace(); err != nil {
			continue
		}
		batch, closed := s.next(s.out.paceBytes(s.srv.cfg.MaxFrameBytes))
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

// pace waits until the socket would take a frame, then judges the client
// by its staleness rule (lag.go): a client behind by more than
// MaxStaleness is conflated, a conflating one that has kept up goes live.
// A closed client's writer does not wait: it flushes and sends the close.
func (s *session) pace() error {
	select {
	case <-s.client.Done():
		return nil
	default:
	}
	sent, outq, err := s.out.waitWritable()
	if err != nil {
		return err
	}
	l, now, lastBlock := s.lagOf(), time.Now(), s.out.lastBlock.Load()
	l.sample(now, sent-outq, lastBlock > l.at.UnixNano())
	if now.UnixNano()-lastBlock >= int64(l.keptUpFor()) {
		s.out.paced.Store(false) // the next writer may write on the lane again
	}
	if s.client.Conflating() {
		s.maybeLive(l, now)
		return nil
	}
	if _, queued := s.client.Len(); l.behind(int64(queued) + outq) {
		s.client.Conflate()
		l.since = now
	}
	return nil
}

// maybeLive takes a conflating client live once it has kept up for as
// long as l asks.
func (s *session) maybeLive(l *lag, now time.Time) {
	if l.keptUp(now, s.out.lastBlock.Load()) && s.client.Live() {
		l.since = time.Time{}
	}
}

// lagOf returns the session's staleness rule, made when its writer first
// needs it: a client that never lags holds none.
func (s *session) lagOf() *lag {
	if s.lag == nil {
		s.lag = &lag{maxStale: s.srv.cfg.MaxStaleness}
	}
	return s.lag
}

// next takes the next batch from the client's queue into the writer's
// batch buffer, at most maxBytes of messages and separators. An empty
// batch ends this writer: it must not touch the session's writer state
// after that, since the next writer may start. So the buffer leaves the
// session before Next, and an ending writer puts it back in the pool
// itself.
func (s *session) next(maxBytes int) (batch []fanout.Message, closed bool) {
	bp := s.batch
	s.batch = nil
	if bp == nil {
		bp = batchPool.Get().(*[]fanout.Message)
	}
	batch, closed = s.client.Next((*bp)[:0], maxBytes)
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
