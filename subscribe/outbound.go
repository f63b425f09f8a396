package subscribe

import (
	"errors"
	"net"
	"os"
	"syscall"
	"time"
)

// Write writes p to the socket for coder/websocket, which calls it under
// its frame write lock, so one goroutine at a time. It first tries the
// socket without waiting. Only a write that finds the socket's send buffer
// full (the peer is not reading fast enough) arms a write deadline, of
// timeout from that moment; past it the write fails and stalled reports
// true. So a frame that goes out at once, nearly every frame, costs no
// timer at all.
func (c *inboundConn) Write(p []byte) (int, error) {
	if c.raw == nil {
		return c.writeBlocking(p)
	}
	c.wp, c.wn, c.werr, c.deadline = p, 0, nil, false
	err := c.raw.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wp = nil
	if c.deadline {
		c.Conn.SetWriteDeadline(time.Time{})
		c.blocked.Store(false)
	}
	if err == nil && werr != nil {
		err = &net.OpError{Op: "write", Net: "tcp", Addr: c.RemoteAddr(), Err: werr}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.stalled.Store(true)
	}
	return n, err
}

// writeRaw is the syscall.RawConn write callback (bound once to writeFn,
// so a write allocates no closure). It writes what is left of c.wp and
// reports false, to be called again when the socket is writable, if the
// socket would block.
func (c *inboundConn) writeRaw(fd uintptr) bool {
	for len(c.wp) > 0 {
		n, err := syscall.Write(int(fd), c.wp)
		if n > 0 {
			c.wn += n
			c.wp = c.wp[n:]
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			c.wouldBlock()
			return false
		case err != nil:
			c.werr = err
			return true
		case n == 0:
			c.werr = syscall.EIO
			return true
		}
	}
	return true
}

// wouldBlock runs when the socket cannot take more. The first time in a
// Write it arms the write deadline and detaches the lane worker that
// writes on this connection, or waits to (lanes.go), so the lane does
// not wait with it. blocked is stored before worker is loaded, and the
// worker stores itself before loading blocked: one of them sees the other.
func (c *inboundConn) wouldBlock() {
	if c.deadline {
		return
	}
	c.deadline = true
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	c.blocked.Store(true)
	if w := c.worker.Load(); w != nil {
		w.detach()
	}
}

// writeBlocking is Write for a connection that offers no raw descriptor:
// a deadline around every write, and, since it cannot tell a write that
// would block, never on a lane worker.
func (c *inboundConn) writeBlocking(p []byte) (int, error) {
	if w := c.worker.Load(); w != nil {
		w.detach()
	}
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	n, err := c.Conn.Write(p)
	c.Conn.SetWriteDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.stalled.Store(true)
	}
	return n, err
}
