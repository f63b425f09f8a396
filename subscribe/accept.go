package subscribe

import (
	"bufio"
	"net"
	"net/http"
)

// readBufferSize is the read buffer each connection keeps for life. Client
// messages are small (ReadLimit, 4 KiB by default); bufio reads a larger
// one in several calls. net/http hands a hijacked connection a 4 KiB
// reader, which across tens of thousands of idle connections is the largest
// thing a session holds after its write buffer.
const readBufferSize = 512

// smallReadBuffer is the http.ResponseWriter given to websocket.Accept. Its
// Hijack swaps net/http's 4 KiB read buffer for a readBufferSize one and
// lets the old one go; everything else passes through to the embedded
// writer.
type smallReadBuffer struct {
	http.ResponseWriter
}

var _ http.Hijacker = smallReadBuffer{}

// Hijack takes over the connection like http.ResponseController.Hijack.
// If net/http had already read bytes past the request (a client that sent
// frames right behind its handshake), it keeps net/http's reader: Accept
// takes such bytes from the reader's buffer, and would drop a reader that
// only wrapped them.
func (w smallReadBuffer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil || brw.Reader.Buffered() > 0 {
		return conn, brw, err
	}
	return conn, bufio.NewReadWriter(bufio.NewReaderSize(conn, readBufferSize), brw.Writer), nil
}
