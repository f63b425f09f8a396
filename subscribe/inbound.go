package subscribe

import (
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// meteredReader is the read side of a hijacked connection (accept.go).
// It meters everything the client sends, below the WebSocket library, so
// that no kind of frame escapes the limit: every byte read counts against
// InboundBytes, and every frame header in them (pings, pongs, empty
// continuation frames) against InboundFrames. A connection that overdraws
// either bucket reads ReasonInboundFlood from then on, which ends the
// session with 1008.
//
// Read runs under coder/websocket's read lock, so one goroutine at a time;
// bad is atomic because the session reads it after a read on another
// goroutine (the close handshake) may have set it.
type meteredReader struct {
	conn   net.Conn
	prefix []byte // bytes net/http read past the handshake, served first
	bytes  *rate.Limiter
	frames *rate.Limiter
	scan   frameScanner
	err    error // sticky: once set, every Read returns it
	bad    atomic.Bool
	cutOff atomic.Bool // err is set: Close lingers
}

// meterLimits sizes the buckets of a meteredReader.
type meterLimits struct {
	bytes, frames float64 // per second
	window        time.Duration
}

// init sets r up to meter reads from c.
func (r *meteredReader) init(c net.Conn, l meterLimits) {
	burst := func(v float64) int { return max(1, int(v*l.window.Seconds())) }
	r.conn = c
	r.bytes = rate.NewLimiter(rate.Limit(l.bytes), burst(l.bytes))
	r.frames = rate.NewLimiter(rate.Limit(l.frames), burst(l.frames))
}

// Read reads from the prefix, then the socket, and charges what it read.
// An idle session's reader waits in it, so the charging is a call of its
// own, off the stack while it waits (session.serve).
func (r *meteredReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	var n int
	var err error
	if len(r.prefix) > 0 {
		n = copy(p, r.prefix)
		r.prefix = r.prefix[n:]
	} else {
		n, err = r.conn.Read(p)
	}
	if n > 0 && !r.charge(p[:n]) {
		return 0, r.err
	}
	return n, err
}

// charge counts p's bytes and frame headers against the buckets and
// reports whether they had room; if not, it cuts the connection off.
func (r *meteredReader) charge(p []byte) bool {
	frames := r.scan.scan(p)
	if r.scan.bad {
		r.bad.Store(true)
	}
	now := time.Now()
	if !r.bytes.AllowN(now, len(p)) || !r.frames.AllowN(now, frames) {
		r.err = ReasonInboundFlood
		r.cutOff.Store(true)
		return false
	}
	return true
}

// lingerTime bounds how long Close discards a flooding client's input.
const lingerTime = 500 * time.Millisecond

// Close closes the socket. A connection cut off for flooding still has
// input coming, and closing a socket with unread input makes the kernel
// send a reset, which can destroy the 1008 close frame before the client
// reads it. So Close first sends FIN behind the close frame and discards
// input until the client closes too or lingerTime passes, as web servers
// do (lingering close).
func (r *meteredReader) Close() error {
	if cw, ok := r.conn.(interface{ CloseWrite() error }); ok && r.cutOff.Load() && cw.CloseWrite() == nil {
		r.conn.SetReadDeadline(time.Now().Add(lingerTime))
		io.Copy(io.Discard, r.conn)
	}
	return r.conn.Close()
}

// protocolError reports whether the client broke RFC 6455 framing.
func (r *meteredReader) protocolError() bool { return r.bad.Load() }

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
