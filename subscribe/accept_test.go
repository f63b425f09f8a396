package subscribe

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
)

// TestFrameBehindHandshake sends a WebSocket frame in the same TCP write as
// the upgrade request, so net/http has read it before the hijack. The
// session must still see it: hijacker.Hijack keeps such bytes (accept.go).
func TestFrameBehindHandshake(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	addr := strings.TrimSuffix(strings.TrimPrefix(e.url, "ws://"), "/ws")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))

	req := "GET /ws HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := conn.Write(append([]byte(req), maskedText(`{"op":"list","id":7}`)...)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	// The server's reply: one unmasked text frame, after the welcome,
	// which may share its frame.
	got := readTextFrame(t, br)
	if welcome, rest, ok := strings.Cut(got, "\n"); ok && strings.HasPrefix(welcome, `{"type":"welcome"`) {
		got = rest
	} else if strings.HasPrefix(got, `{"type":"welcome"`) {
		got = readTextFrame(t, br)
	}
	if got != `{"type":"list","id":7,"symbols":[],"streams":{"bars.1m":[],"bars.1s":[],"book":[],"status":[],"ticks":[]}}` {
		t.Fatalf("reply %s", got)
	}
}

// readTextFrame reads one final unmasked text frame under 64 KiB and
// returns its payload.
func readTextFrame(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x81 || hdr[1]&0x80 != 0 || hdr[1] > 126 {
		t.Fatalf("frame header % x, want a final unmasked text frame (a close means the request was lost)", hdr)
	}
	n := int(hdr[1])
	if n == 126 {
		ext := make([]byte, 2)
		if _, err := io.ReadFull(br, ext); err != nil {
			t.Fatal(err)
		}
		n = int(ext[0])<<8 | int(ext[1])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	return string(payload)
}

// maskedText encodes s as one masked client text frame (RFC 6455 5.2),
// with a fixed mask: enough for a test that must put a frame in the same
// write as the handshake, which no client library does.
func maskedText(s string) []byte {
	key := [4]byte{1, 2, 3, 4}
	f := []byte{0x81, 0x80 | byte(len(s)), key[0], key[1], key[2], key[3]}
	for i := 0; i < len(s); i++ {
		f = append(f, s[i]^key[i%4])
	}
	return f
}

// TestControlFrameInOneWrite closes a connection with the longest reason
// a close frame holds: the frame, the largest coder/websocket writes,
// must reach frameWriter.Write whole, in one call, or a data frame could
// slip into it (outbound.go). Under the hijacker is one end of a
// net.Pipe, where each write reaches the peer's read alone.
func TestControlFrameInOneWrite(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe()
	defer client.Close()
	client.SetDeadline(time.Now().Add(10 * time.Second))
	req := httptest.NewRequest(http.MethodGet, "/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	h := &hijacker{ResponseWriter: &pipeResponse{header: http.Header{}, conn: server}, limits: meterLimits{1 << 20, 1 << 10, time.Second}, writeTimeout: 10 * time.Second}
	conn, err := websocket.Accept(h, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()

	reason := strings.Repeat("r", 123) // with the 2-byte code: 125, the most
	closed := make(chan error, 1)
	go func() { closed <- conn.Close(websocket.StatusGoingAway, reason) }()
	buf := make([]byte, 512)
	n, err := client.Read(buf)
	if err != nil || n != 2+125 || buf[0] != 0x88 {
		t.Fatalf("first write: % x... (%d bytes), %v; want the whole close frame, %d bytes", buf[:min(n, 4)], n, err, 2+125)
	}
	client.Write(frame(0x88, []byte{0x03, 0xe9})) // 1001 back, as coder/websocket expects
	if err := <-closed; err != nil {
		t.Fatalf("close handshake: %v", err)
	}
}

// pipeResponse is the http.ResponseWriter of a request that did not come
// through net/http: its Hijack hands over conn.
type pipeResponse struct {
	header http.Header
	conn   net.Conn
}

func (p *pipeResponse) Header() http.Header         { return p.header }
func (p *pipeResponse) Write(b []byte) (int, error) { return len(b), nil }
func (p *pipeResponse) WriteHeader(int)             {}
func (p *pipeResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return p.conn, bufio.NewReadWriter(bufio.NewReader(p.conn), bufio.NewWriter(p.conn)), nil
}
