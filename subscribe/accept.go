package subscribe

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"time"
)

// readBufferSize is the read buffer each connection keeps for life: bufio's
// smallest. coder/websocket reads frame headers through it, byte by byte,
// and payloads straight into the message, past the buffer, whenever none
// is buffered: so a client message costs two reads from the socket
// instead of one, and only client messages do, which are few and small
// (ReadLimit, 4 KiB by default). net/http hands a hijacked connection a
// 4 KiB reader, which across tens of thousands of idle connections is
// memory for nothing.
const readBufferSize = 16

// writeBufferSize is the write buffer coder/websocket keeps for the
// connection's life: the largest frame it writes, a control frame of 2
// header bytes and at most 125 payload bytes (RFC 6455 5.5), so that each
// such frame still reaches frameWriter.Write whole, in one call. net/http
// hands a hijacked connection a 4 KiB writer, which was the largest thing
// an idle session held; the session writes its data frames itself
// (outbound.go), so no more is ever buffered.
const writeBufferSize = 2 + 125

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
// swaps net/http's 4 KiB buffers for a readBufferSize reader and a
// writeBufferSize writer; everything else passes through to the embedded
// writer.
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
	// net/http has flushed the handshake response: brw.Writer is empty.
	br := bufio.NewReaderSize(&h.conn.in, readBufferSize)
	bw := bufio.NewWriterSize(&h.conn.out, writeBufferSize)
	return h.conn, bufio.NewReadWriter(br, bw), nil
}
