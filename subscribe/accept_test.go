package subscribe

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

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
