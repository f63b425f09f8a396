package subscribe

import (
	"bufio"
	"bytes"
	"io"
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

// Hijack takes over the connection like http.ResponseController.Hijack,
// keeping any bytes net/http had already read past the request.
func (w smallReadBuffer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	var src io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn)
	}
	return conn, bufio.NewReadWriter(bufio.NewReaderSize(src, readBufferSize), brw.Writer), nil
}
