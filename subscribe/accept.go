package subscribe

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
)

// readBufferSize is the read buffer each connection keeps for life. Client
// messages are small (ReadLimit, 4 KiB by default); bufio reads a larger
// one in several calls. net/http hands a hijacked connection a 4 KiB
// reader, which across tens of thousands of idle connections is the largest
// thing a session holds after its write buffer.
const readBufferSize = 512

// hijacker is the http.ResponseWriter given to websocket.Accept. Its Hijack
// puts an inboundConn under the WebSocket library, so every byte the client
// sends is metered, and swaps net/http's 4 KiB read buffer for a
// readBufferSize one; everything else passes through to the embedded
// writer.
type hijacker struct {
	http.ResponseWriter
	limits inboundLimits
	conn   *inboundConn // set by Hijack
}

var _ http.Hijacker = (*hijacker)(nil)

// Hijack takes over the connection like http.ResponseController.Hijack.
// Bytes net/http had already read past the request (a client that sent
// frames right behind its handshake) move into the inboundConn, to be read
// and metered first.
func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(h.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	h.conn = newInboundConn(conn, h.limits)
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		h.conn.prefix = bytes.Clone(b)
	}
	return h.conn, bufio.NewReadWriter(bufio.NewReaderSize(h.conn, readBufferSize), brw.Writer), nil
}
