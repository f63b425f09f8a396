package subscribe

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// Connections count against MaxConnectionsPerIP from the moment they are
// accepted, not only once they are sessions: a client that opens
// connections and sends its requests a byte at a time (slowloris) held
// none of its address's slots while net/http read them, and so could hold
// any number. Through Listener, a connection from a direct peer holds one
// slot of its address from its accept to its close, whatever it becomes
// (a session, a plain HTTP request, nothing yet), and an address at its
// cap has further connections refused as they are accepted. A trusted
// proxy's connections are not counted here: they carry many clients, each
// counted by its header once its request is read (admit.go).

// Listener wraps ln so that what it accepts counts against
// MaxConnectionsPerIP at once (above). With no per-address cap it returns
// ln. Call it before serving.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.cfg.MaxConnectionsPerIP <= 0 {
		return ln
	}
	s.countsAtAccept.Store(true)
	return &countingListener{Listener: ln, srv: s}
}

// heldAtAccept reports whether r's connection holds its address's slot
// since its accept: Listener counts it, and its peer is not a trusted
// proxy.
func (s *Server) heldAtAccept(r *http.Request) bool {
	if !s.countsAtAccept.Load() {
		return false
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && !s.trusted(ap.Addr().Unmap())
}

type countingListener struct {
	net.Listener
	srv *Server
}

// Accept returns the next connection its address has a slot for; one
// past the cap is answered 429 and closed, on a goroutine of its own.
func (l *countingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return c, err
		}
		tc, ok := c.(*net.TCPConn)
		ra, isTCP := c.RemoteAddr().(*net.TCPAddr)
		if !ok || !isTCP {
			return c, nil
		}
		ip := ra.AddrPort().Addr().Unmap()
		if l.srv.trusted(ip) {
			return c, nil
		}
		if !l.srv.perIP.take(ip) {
			l.srv.metrics.rejectedAtAccept.Inc()
			go refuseAtAccept(tc, ip)
			continue
		}
		return &countedConn{TCPConn: tc, ip: ip, slots: &l.srv.perIP}, nil
	}
}

// countedConn is an accepted connection that holds a slot of its address
// until it closes. It is a *net.TCPConn to whoever asks for its methods
// (SyscallConn for the frameWriter, CloseWrite for net/http).
type countedConn struct {
	*net.TCPConn
	ip     netip.Addr
	slots  *ipSlots
	closed atomic.Bool
}

func (c *countedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.slots.release(c.ip)
	}
	return c.TCPConn.Close()
}

// refuseAtAccept answers c, from ip, 429 once it has read its request's
// head (an HTTP client takes an answer that comes before its request for
// a broken connection), and closes it; a request whose head does not
// come within a second is closed unanswered. It then reads what else c
// sends until it closes, within the same second, so that closing does
// not reset the connection under the answer.
func refuseAtAccept(c *net.TCPConn, ip netip.Addr) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if !readHead(c) {
		return
	}
	msg := "tickgate: too many connections from " + ip.String() + "\n"
	io.WriteString(c, "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(msg))+"\r\n\r\n"+msg)
	c.CloseWrite()
	io.Copy(io.Discard, c)
}

// readHead reads r up to the blank line that ends a request's head, and
// reports whether it came within 8 KiB.
func readHead(r io.Reader) bool {
	var buf [512]byte
	var tail []byte
	for read := 0; read < 8<<10; {
		n, err := r.Read(buf[:])
		tail = append(tail, buf[:n]...)
		if bytes.Contains(tail, []byte("\r\n\r\n")) {
			return true
		}
		if err != nil {
			return false
		}
		read += n
		tail = tail[max(0, len(tail)-3):]
	}
	return false
}
