package subscribe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// frameWriter is the write side of a hijacked connection: a WebSocket's
// (accept.go), or an event stream's (sse.go), which has no library above
// it and writes through writeData alone. On a WebSocket two writers share
// the socket. coder/websocket writes every control frame (pongs, the
// session's pings, close frames) through Write; net/http wrote the
// handshake response before the hijack. The session writes its data
// frames through writeText, which frames them in place and writes header
// and payload in one system call, where coder/websocket's conn.Write would
// lock two channel mutexes, copy both into its buffer and write in pieces
// of the buffer's size (docs/performance-history.md, "Data frames written
// in one go").
//
// wmu keeps the two from interleaving bytes: it is held for the whole of
// each Write and each writeText, across the system call and, if the
// socket would block, for up to WriteTimeout, the way coder/websocket
// holds its own frame lock. Write calls are whole frames only because
// coder/websocket writes nothing but control frames here: at most 2
// header bytes and 125 payload bytes put into its empty buffer, which
// holds that much (writeBufferSize, accept.go), and flushed, at the
// frame's end, in one Write (write.go writeFrame). A data frame sent
// through conn.Write would be flushed in pieces, so none is.
type frameWriter struct {
	conn      net.Conn
	stalled   atomic.Bool                // a write waited past timeout
	blocked   atomic.Bool                // a write is waiting for the socket
	paced     atomic.Bool                // the socket was found full: frames wait for it (writer.go)
	lastBlock atomic.Int64               // when a write last found the socket full (Unix ns)
	worker    atomic.Pointer[laneWorker] // the lane worker writing on this conn (lanes.go)
	timeout   time.Duration              // WriteTimeout
	raw       syscall.RawConn            // nil: the connection has no descriptor
	writeFn   func(fd uintptr) bool
	pollFn    func(fd uintptr) bool

	wmu       sync.Mutex // one frame at a time on the socket; protects the fields below
	closeSent bool       // a close frame (or event) went out: no data frame may follow
	wp        []byte     // left to write
	wn        int        // written by this write
	werr      error
	deadline  bool  // this write armed the write deadline
	sent      int64 // bytes written to the socket, every frame's
	outq      int64 // what the socket held unacknowledged when waitWritable last found it writable
	// cut is the rest of a frame whose write stalled part way: nothing
	// but its end, written by lastWord, may follow.
	cut []byte
}

// notsentLowat is the most a client's socket holds written but not yet
// sent (TCP_NOTSENT_LOWAT, socket_linux.go), so that a slow client's
// backlog stays in its queue, where it can be conflated, instead of in
// the kernel, where it cannot: at 500 kbit/s 16 KiB is a quarter of a
// second. A client that keeps up never has that much unsent, so its
// writes do not change.
const notsentLowat = 16 << 10

// pacedFrameBytes caps the messages of a frame written by a writer that
// waited for the socket (writer.go): what it takes at once once it polls
// writable, which it does with less than notsentLowat/2 unsent. An event
// stream's event adds its id (up to maxEventIDBytes) on top: cutting its
// messages to make room would send ids more often, and on a slow link
// more of its bytes would be ids.
const pacedFrameBytes = notsentLowat / 2

// init sets w up to write frames on c, through its raw descriptor if it
// has one.
func (fw *frameWriter) init(c net.Conn, timeout time.Duration) {
	fw.conn, fw.timeout = c, timeout
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			fw.raw = raw
			fw.writeFn, fw.pollFn = fw.writeRaw, fw.pollRaw
			raw.Control(func(fd uintptr) { setNotsentLowat(fd, notsentLowat) })
		}
	}
}

// maxHeader is the room a frame buffer keeps at its start for the
// header of a server frame (RFC 6455 section 5.2): 2 bytes, 4 with a
// 16-bit length, 10 with a 64-bit one.
const maxHeader = 10

// errCloseSent fails a data frame after the close frame (RFC 6455 section
// 5.5.1: an endpoint sends no data frame after its close frame).
var errCloseSent = fmt.Errorf("subscribe: write frame: close frame sent: %w", net.ErrClosed)

// errCut fails a control frame behind a data frame cut part way.
var errCut = fmt.Errorf("subscribe: write frame: a frame's write stalled part way: %w", net.ErrClosed)

// Write writes p, a whole frame or the handshake response, for
// coder/websocket, and notes a close frame: opcode 8 with FIN, 0x88,
// which no handshake byte (ASCII) can be. coder/websocket keeps whether
// it sent a close to itself (it has no method that tells), and it sends
// one on its own goroutines (the echo of the peer's close, 1002 or 1009
// on bad input), so the one place that sees every close frame go out
// before any frame can follow it is here, under wmu.
func (fw *frameWriter) Write(p []byte) (int, error) {
	fw.wmu.Lock()
	defer fw.wmu.Unlock()
	if fw.cut != nil {
		return 0, errCut
	}
	if len(p) > 0 && p[0] == 0x88 {
		fw.closeSent = true
	}
	return fw.writeLocked(p)
}

// writeText writes buf[maxHeader:] as one final, unmasked text frame,
// filling in its header in the bytes just before the payload, so header
// and payload go out in one write with no copy. buf's first maxHeader
// bytes are the caller's room for the header; the caller keeps buf.
// It keeps a body of its own rather than call writeData: the call cost
// each WebSocket frame ~25 instructions (callgrind, BenchmarkFrameWrite).
func (fw *frameWriter) writeText(buf []byte) error {
	fw.wmu.Lock()
	defer fw.wmu.Unlock()
	if fw.closeSent {
		return errCloseSent
	}
	_, err := fw.writeLocked(buf[putHeader(buf):])
	return err
}

// writeData writes p whole, unless the connection's last word went out
// before (lastWord: a WebSocket's close frame, an event stream's close
// event). An event stream, which has no frame header, writes its head,
// events and heartbeats here.
func (fw *frameWriter) writeData(p []byte) error {
	fw.wmu.Lock()
	defer fw.wmu.Unlock()
	if fw.closeSent {
		return errCloseSent
	}
	_, err := fw.writeLocked(p)
	return err
}

// putHeader writes the header of a final text frame whose payload is
// buf[maxHeader:] into the end of buf[:maxHeader] and returns where the
// header starts.
func putHeader(buf []byte) int {
	n := len(buf) - maxHeader
	switch {
	case n <= 125:
		buf[maxHeader-2], buf[maxHeader-1] = 0x81, byte(n)
		return maxHeader - 2
	case n <= 0xffff:
		buf[maxHeader-4], buf[maxHeader-3] = 0x81, 126
		binary.BigEndian.PutUint16(buf[maxHeader-2:], uint16(n))
		return maxHeader - 4
	default:
		buf[0], buf[1] = 0x81, 127
		binary.BigEndian.PutUint64(buf[2:], uint64(n))
		return 0
	}
}

// writeLocked writes p to the socket; the caller holds wmu. It first
// tries the socket without waiting. Only a write that finds the socket's
// send buffer full (the peer is not reading fast enough) arms a write
// deadline, of timeout from that moment; past it the write fails and
// stalled reports true. So a frame that goes out at once, nearly every
// frame, costs no timer at all.
func (fw *frameWriter) writeLocked(p []byte) (int, error) {
	if fw.raw == nil {
		return fw.writeBlocking(p)
	}
	fw.wp, fw.wn, fw.werr, fw.deadline = p, 0, nil, false
	err := fw.raw.Write(fw.writeFn)
	n, werr := fw.wn, fw.werr
	fw.wp = nil
	fw.sent += int64(n)
	fw.endWait(err)
	fw.keepCut(p, n)
	if err == nil && werr != nil {
		err = &net.OpError{Op: "write", Net: "tcp", Addr: fw.conn.RemoteAddr(), Err: werr}
	}
	return n, err
}

// keepCut keeps the rest of p, of which n bytes went out, if its write
// stalled part way: only lastWord may write after it, the rest first, so
// a peer that reads again finds whole frames and the close.
func (fw *frameWriter) keepCut(p []byte, n int) {
	if n < len(p) && n > 0 && fw.stalled.Load() {
		fw.cut = append([]byte(nil), p[n:]...)
		fw.closeSent = true
	}
}

// endWait undoes what a write or wait that found the socket full set up
// (wouldBlock), and notes a stall if it ended with the deadline. A write
// that went out at once pays two tests.
func (fw *frameWriter) endWait(err error) {
	if fw.deadline || err != nil {
		fw.endWaitSlow(err)
	}
}

func (fw *frameWriter) endWaitSlow(err error) {
	if fw.deadline {
		fw.conn.SetWriteDeadline(time.Time{})
		fw.blocked.Store(false)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		fw.stalled.Store(true)
	}
}

// writeRaw is the syscall.RawConn write callback (bound once to writeFn,
// so a write allocates no closure). It writes what is left of fw.wp and
// reports false, to be called again when the socket is writable, if the
// socket would block.
func (fw *frameWriter) writeRaw(fd uintptr) bool {
	for len(fw.wp) > 0 {
		n, err := syscall.Write(int(fd), fw.wp)
		if n > 0 {
			fw.wn += n
			fw.wp = fw.wp[n:]
		}
		switch {
		case err == syscall.EINTR:
		case err == syscall.EAGAIN:
			fw.wouldBlock()
			return false
		case err != nil:
			fw.werr = err
			return true
		case n == 0:
			fw.werr = syscall.EIO
			return true
		}
	}
	return true
}

// wouldBlock runs when the socket cannot take more. The first time in a
// write it arms the write deadline and detaches the lane worker that
// writes on this connection, or waits to (lanes.go), so the lane does
// not wait with it. blocked is stored before worker is loaded, and the
// worker stores itself before loading blocked: one of them sees the other.
func (fw *frameWriter) wouldBlock() {
	if fw.deadline {
		return
	}
	fw.deadline = true
	now := time.Now()
	fw.conn.SetWriteDeadline(now.Add(fw.timeout))
	fw.lastBlock.Store(now.UnixNano())
	fw.paced.Store(true)
	fw.blocked.Store(true)
	if w := fw.worker.Load(); w != nil {
		w.detach()
	}
}

// writeBlocking is writeLocked for a connection that offers no raw
// descriptor: a deadline around every write, and, since it cannot tell a
// write that would block, never on a lane worker.
func (fw *frameWriter) writeBlocking(p []byte) (int, error) {
	if w := fw.worker.Load(); w != nil {
		w.detach()
	}
	fw.conn.SetWriteDeadline(time.Now().Add(fw.timeout))
	n, err := fw.conn.Write(p)
	fw.conn.SetWriteDeadline(time.Time{})
	fw.sent += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		fw.stalled.Store(true)
	}
	fw.keepCut(p, n)
	return n, err
}

// waitWritable waits until the socket would take a frame, as a write that
// finds it full waits (wouldBlock: the deadline, the lane worker
// detached), and reports what the link holds then: the bytes written to
// the socket so far, and those the peer has not acknowledged. A writer
// that waits before it takes its next frame from the queue leaves its
// backlog in the queue until the socket can take it. A connection with no
// descriptor, or after its last word, does not wait.
func (fw *frameWriter) waitWritable() (sent, outq int64, err error) {
	fw.wmu.Lock()
	defer fw.wmu.Unlock()
	if fw.raw == nil || fw.closeSent {
		return fw.sent, 0, nil
	}
	fw.deadline, fw.outq = false, 0
	err = fw.raw.Write(fw.pollFn)
	fw.endWait(err)
	return fw.sent, fw.outq, err
}

// pollRaw is waitWritable's syscall.RawConn callback (bound once to
// pollFn): true once the socket would take a write.
func (fw *frameWriter) pollRaw(fd uintptr) bool {
	if writable(fd) {
		fw.outq = outstanding(fd)
		return true
	}
	fw.wouldBlock()
	return false
}

// failure is why a connection whose write (or ping) failed ends: a write
// timeout if a write stalled, else otherwise.
func (fw *frameWriter) failure(otherwise CloseReason) CloseReason {
	if fw.stalled.Load() {
		return ReasonWriteTimeout
	}
	return otherwise
}

// paceBytes is the largest frame a writer that waits for the socket
// should take: what the socket takes at once once it is writable.
func (fw *frameWriter) paceBytes(maxFrame int) int {
	if fw.raw == nil {
		return maxFrame
	}
	return min(maxFrame, pacedFrameBytes)
}

// lastWord writes p, the connection's close frame or close event, after
// the rest of a frame cut part way, if any, and after lifting the bound on
// what the socket holds unsent: so it goes in behind whatever the peer has
// not read yet if the socket has room at all, and a peer that stopped
// reading finds it there if it reads again. Nothing may be written after
// it.
func (fw *frameWriter) lastWord(p []byte) error {
	fw.wmu.Lock()
	defer fw.wmu.Unlock()
	if fw.closeSent && fw.cut == nil {
		return errCloseSent
	}
	if fw.raw != nil {
		fw.raw.Control(func(fd uintptr) { setNotsentLowat(fd, math.MaxInt32) })
	}
	if fw.cut != nil {
		p = append(fw.cut, p...)
		fw.cut = nil
	}
	fw.closeSent = true
	_, err := fw.writeLocked(p)
	return err
}
