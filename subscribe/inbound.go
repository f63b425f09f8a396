package subscribe

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"
)

// inboundConn is the hijacked connection as coder/websocket sees it. It
// meters everything the client sends, below the WebSocket library, so
// that no kind of frame escapes the limit: every byte read counts against
// InboundBytes, and every frame header in them (pings, pongs, empty
// continuation frames) against InboundFrames. A connection that overdraws
// either bucket reads ReasonInboundFlood from then on, which ends the
// session with 1008.
//
// Read runs under coder/websocket's read lock, so one goroutine at a time;
// bad is atomic because the session reads it after a read on another
// goroutine (the close handshake) may have set it.
type inboundConn struct {
	net.Conn
	prefix []byte // bytes net/http read past the handshake, served first
	bytes  *rate.Limiter
	frames *rate.Limiter
	scan   frameScanner
	err    error // sticky: once set, every Read returns it
	bad    atomic.Bool
	cutOff atomic.Bool // err is set: Close lingers

	// The write side (outbound.go).
	stalled atomic.Bool                // a write waited past timeout
	blocked atomic.Bool                // a write is waiting for the socket
	worker  atomic.Pointer[laneWorker] // the lane worker writing on this conn (lanes.go)
	timeout time.Duration              // WriteTimeout
	raw     syscall.RawConn            // nil: the connection has no descriptor
	writeFn func(fd uintptr) bool

	wmu       sync.Mutex // one frame at a time on the socket; protects the fields below
	closeSent bool       // a close frame went out: no data frame may follow
	wp        []byte     // left to write
	wn        int        // written by this write
	werr      error
	deadline  bool // this write armed the write deadline
}

// inboundLimits sizes the buckets of an inboundConn (and, despite the
// name, carries the write side's timeout).
type inboundLimits struct {
	bytes, frames float64 // per second
	window        time.Duration
	writeTimeout  time.Duration
}

func newInboundConn(c net.Conn, l inboundLimits) *inboundConn {
	burst := func(r float64) int { return max(1, int(r*l.window.Seconds())) }
	ic := &inboundConn{
		Conn:    c,
		bytes:   rate.NewLimiter(rate.Limit(l.bytes), burst(l.bytes)),
		frames:  rate.NewLimiter(rate.Limit(l.frames), burst(l.frames)),
		timeout: l.writeTimeout,
	}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			ic.raw = raw
			ic.writeFn = ic.writeRaw
		}
	}
	return ic
}

// Read reads from the prefix, then the socket, and charges what it read.
func (c *inboundConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	var n int
	var err error
	if len(c.prefix) > 0 {
		n = copy(p, c.prefix)
		c.prefix = c.prefix[n:]
	} else {
		n, err = c.Conn.Read(p)
	}
	if n == 0 {
		return n, err
	}
	frames := c.scan.scan(p[:n])
	if c.scan.bad {
		c.bad.Store(true)
	}
	now := time.Now()
	if !c.bytes.AllowN(now, n) || !c.frames.AllowN(now, frames) {
		c.err = ReasonInboundFlood
		c.cutOff.Store(true)
		return 0, c.err
	}
	return n, err
}

// lingerTime bounds how long Close discards a flooding client's input.
const lingerTime = 500 * time.Millisecond

// Close closes the socket. A connection cut off for flooding still has
// input coming, and closing a socket with unread input makes the kernel
// send a reset, which can destroy the 1008 close frame before the client
// reads it. So Close first sends FIN behind the close frame and discards
// input until the client closes too or lingerTime passes, as web servers
// do (lingering close).
func (c *inboundConn) Close() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok && c.cutOff.Load() && cw.CloseWrite() == nil {
		c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		io.Copy(io.Discard, c.Conn)
	}
	return c.Conn.Close()
}

// protocolError reports whether the client broke RFC 6455 framing.
func (c *inboundConn) protocolError() bool { return c.bad.Load() }

// frameScanner follows frame boundaries in the client's byte stream
// (RFC 6455 section 5.2), to count frames and to tell a protocol error
// from a dropped connection. It reads headers byte by byte and skips
// payloads without looking at them.
type frameScanner struct {
	hdr     [14]byte
	have    int   // header bytes collected
	payload int64 // payload bytes left in the current frame
	inMsg   bool  // a fragmented data message is open
	bad     bool  // the stream broke the framing rules; scanning stops
}

// scan consumes p and returns the number of frame headers completed in it.
func (s *frameScanner) scan(p []byte) (frames int) {
	for len(p) > 0 && !s.bad {
		if s.payload > 0 {
			k := min(int64(len(p)), s.payload)
			s.payload -= k
			p = p[k:]
			continue
		}
		s.hdr[s.have] = p[0]
		s.have++
		p = p[1:]
		if s.have < headerLen(s.hdr[:s.have]) {
			continue
		}
		s.payload = s.header()
		s.have = 0
		frames++
	}
	return frames
}

// headerLen is the length of the frame header that starts with h, as far
// as h tells it.
func headerLen(h []byte) int {
	if len(h) < 2 {
		return 2
	}
	n := 2
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// header checks the complete header in s.hdr and returns its payload
// length. No extension is negotiated, so RSV bits are errors; a client's
// frames must be masked; control frames are final and at most 125 bytes;
// continuation frames continue a data message, and data frames do not
// interrupt one.
func (s *frameScanner) header() int64 {
	b0, b1 := s.hdr[0], s.hdr[1]
	fin, op := b0&0x80 != 0, b0&0x0f
	length := int64(b1 & 0x7f)
	switch length {
	case 126:
		length = int64(binary.BigEndian.Uint16(s.hdr[2:]))
	case 127:
		length = int64(binary.BigEndian.Uint64(s.hdr[2:]))
	}
	switch {
	case b0&0x70 != 0, b1&0x80 == 0, length < 0:
		s.bad = true
	case op >= 8: // close, ping, pong
		s.bad = op > 10 || !fin || length > 125
	case op == 0:
		s.bad = !s.inMsg
		s.inMsg = !fin
	case op <= 2:
		s.bad = s.inMsg
		s.inMsg = !fin
	default:
		s.bad = true
	}
	return length
}
