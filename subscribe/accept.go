package subscribe

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// readBufferSize is the read buffer each connection keeps for life. Client
// messages are small (ReadLimit, 4 KiB by default); bufio reads a larger
// one in several calls. net/http hands a hijacked connection a 4 KiB
// reader, which across tens of thousands of idle connections is the largest
// thing a session holds after its write buffer.
const readBufferSize = 512

// hijackedConn is the connection as coder/websocket sees it: its reads go
// through the meter (inbound.go), its writes through the frame writer
// (outbound.go), so neither concern is above the WebSocket library, where
// control frames would escape it. Both live in this one allocation.
type hijackedConn struct {
	net.Conn
	in  meteredReader
	out frameWriter
}

func (c *hijackedConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *hijackedConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *hijackedConn) Close() error                { return c.in.Close() }

// hijacker is the http.ResponseWriter given to websocket.Accept. Its Hijack
// puts a hijackedConn under the WebSocket library, so every byte the client
// sends is metered and a write that blocks is bounded by writeTimeout, and
// swaps net/http's 4 KiB read buffer for a readBufferSize one; everything
// else passes through to the embedded writer.
type hijacker struct {
	http.ResponseWriter
	limits       meterLimits
	writeTimeout time.Duration
	conn         *hijackedConn // set by Hijack
}

var _ http.Hijacker = (*hijacker)(nil)

// Hijack takes over the connection like http.ResponseController.Hijack.
// Bytes net/http had already read past the request (a client that sent
// frames right behind its handshake) move into the meteredReader, to be
// read and metered first.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	h.conn = &hijackedConn{Conn: conn}
	h.conn.in.init(conn, h.limits)
	h.conn.out.init(conn, h.writeTimeout)
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		h.conn.in.prefix = bytes.Clone(b)
	}
	// coder/websocket writes through brw.Writer: point it at the frame
	// writer too, keeping its buffer.
	brw.Writer.Reset(&h.conn.out)
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(&h.conn.in, readBufferSize), brw.Writer), nil
}

// clientIP is the address a connection counts against for
// MaxConnectionsPerIP: the peer's, or, when the peer is a trusted proxy
// and ClientIPHeader is set, the nearest address in that header (read
// right to left, the way proxies append) that is not itself a trusted
// proxy. A header entry that does not parse stops the walk at the last
// address believed.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{} // not TCP (a test's fake request): one bucket
	}
	ip := ap.Addr().Unmap()
	if s.cfg.ClientIPHeader == "" || !s.trusted(ip) {
		return ip
	}
	vals := r.Header.Values(s.cfg.ClientIPHeader)
	for i := len(vals) - 1; i >= 0; i-- {
		hops := strings.Split(vals[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return ip
			}
			ip = a.Unmap()
			if !s.trusted(ip) {
				return ip
			}
		}
	}
	return ip
}

func (s *Server) trusted(ip netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ipSlots counts open sessions per client address, for
// MaxConnectionsPerIP; max 0 counts nothing.
type ipSlots struct {
	max int

	mu sync.Mutex // protects n
	n  map[netip.Addr]int
}

// take counts one more session from ip unless that would pass max.
func (p *ipSlots) take(ip netip.Addr) bool {
	if p.max <= 0 {
		return true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip] >= p.max {
		return false
	}
	p.n[ip]++
	return true
}

// release gives back a slot taken for ip.
func (p *ipSlots) release(ip netip.Addr) {
	if p.max <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[ip]--; p.n[ip] <= 0 {
		delete(p.n, ip)
	}
}
