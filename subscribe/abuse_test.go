package subscribe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// rawConn is a client that speaks WebSocket frames by hand over TCP, to
// send what no client library would.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// rawDial opens a TCP connection to e and completes the upgrade, sending
// header (lines ending in \r\n) with the request.
func (e *testEnv) rawDial(header string) *rawConn {
	e.t.Helper()
	return e.rawDialWith(&net.Dialer{}, header)
}

// rawDialWith is rawDial through d, every read and write of it bounded
// at 30 s.
func (e *testEnv) rawDialWith(d *net.Dialer, header string) *rawConn {
	e.t.Helper()
	c := rawUpgrade(e.t, d, e.url, header)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// rawUpgrade dials the WebSocket endpoint at url (ws://host/path) through
// d and completes a hand-made upgrade, sending header's lines with it.
func rawUpgrade(tb testing.TB, d *net.Dialer, url, header string) *rawConn {
	tb.Helper()
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "ws://"), "/")
	conn, err := d.Dial("tcp", host)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	req := "GET /" + path + " HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" + header + "\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("upgrade: %v %v", resp, err)
	}
	conn.SetDeadline(time.Time{})
	return &rawConn{Conn: conn, br: br}
}

// closeCode reads server frames until a close frame, answers it as a
// client should, and returns its status code; -1 if the connection ends
// without one.
func (c *rawConn) closeCode() int {
	for {
		b0, payload, err := c.readFrame()
		if err != nil {
			return -1
		}
		if b0&0x0f == 8 && len(payload) >= 2 {
			c.Write(frame(0x88, payload[:2]))
			return int(binary.BigEndian.Uint16(payload))
		}
	}
}

// frame encodes one masked client frame with the given first byte (FIN,
// RSV, opcode).
func frame(b0 byte, payload []byte) []byte {
	key := [4]byte{9, 8, 7, 6}
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	default:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// floodKind is a flood of one kind of frame: open is sent once, then
// chunk (many copies of one frame) as fast as the socket takes it.
type floodKind struct {
	name        string
	open, chunk []byte
}

var floods = []floodKind{
	// Empty continuation frames inside an open text message, 6 bytes each.
	{"empty continuations", frame(0x01, nil), bytes.Repeat(frame(0x00, nil), 4096)},
	// 125-byte pings, each answered with a pong.
	{"pings", nil, bytes.Repeat(frame(0x89, bytes.Repeat([]byte{'p'}, 125)), 256)},
}

// flooder is one client flooding with a floodKind.
type flooder struct {
	busy chan struct{} // closed once it has sent 1 MiB, or was closed first
	done chan struct{} // closed when the connection has ended
	code int           // the close code the server sent; valid after done
}

// startFlood sends f until the server closes the connection, reading (and
// discarding) what the server sends meanwhile.
func (e *testEnv) startFlood(f floodKind) *flooder {
	c := e.rawDial("")
	fl := &flooder{busy: make(chan struct{}), done: make(chan struct{})}
	var busy sync.Once
	go func() {
		if _, err := c.Write(f.open); err != nil {
			return
		}
		for sent := 0; ; sent += len(f.chunk) {
			if sent >= 1<<20 {
				busy.Do(func() { close(fl.busy) })
			}
			if _, err := c.Write(f.chunk); err != nil {
				return
			}
		}
	}()
	go func() {
		fl.code = c.closeCode()
		busy.Do(func() { close(fl.busy) })
		close(fl.done)
	}()
	return fl
}

// latencies publishes n ticks of sym one at a time and returns each one's
// delay from publish to c's reader, checking every seq.
func (e *testEnv) latencies(c *wstest.Client, sym string, n int) []time.Duration {
	e.t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		seq := e.publishNow(sym)
		m := c.Next()
		if m.Type != "tick" || m.Sym != sym || m.Seq != seq {
			e.t.Fatalf("bystander got %+v, want %s seq %d", m, sym, seq)
		}
		out = append(out, time.Since(time.Unix(0, m.TS)))
	}
	return out
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// TestInboundFloodClosed has three clients flood the gateway with empty
// continuation frames, the cheapest frames there are, then with pings.
// Each must be closed with 1008 and counted as inbound_flood (that the
// meter cuts a flood off at its burst, before time passes, is
// TestInboundFloodCutOffAtBurst, on a fake clock), while a bystander gets every one of 200 ticks, in order,
// as they are published during the flood. How much the flood slows the
// bystander is a speed figure, so it is only logged here: a ratio of two
// latencies on a shared machine is no test (it failed under load).
func TestInboundFloodClosed(t *testing.T) {
	t.Parallel()
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			testInboundFlood(t, f)
		})
	}
}

func testInboundFlood(t *testing.T, f floodKind) {
	e := newTestEnv(t, Config{}, fanout.Config{})
	by := e.dialSubscribed("AAPL")
	const flooders, ticks = 3, 200
	quiet := median(e.latencies(by, "AAPL", ticks))
	var fls []*flooder
	for range flooders {
		fls = append(fls, e.startFlood(f))
	}
	for _, fl := range fls {
		<-fl.busy // flooding in earnest, or already cut off
	}
	loud := median(e.latencies(by, "AAPL", ticks)) // fails on a missing or repeated seq
	for _, fl := range fls {
		select {
		case <-fl.done:
		case <-time.After(10 * time.Second):
			t.Fatal("flooder not closed within 10s")
		}
		if fl.code != 1008 {
			t.Fatalf("flooder closed with %d, want 1008", fl.code)
		}
	}
	checkFor(t, 5*time.Second, func() error {
		if got := gatheredLabel(t, e, "tickgate_disconnects_total", "inbound_flood"); got != flooders {
			return fmt.Errorf("disconnects{reason=inbound_flood} = %v, want %d", got, flooders)
		}
		return nil
	})
	t.Logf("bystander median latency quiet %v, while flooded %v", quiet, loud)
}

// TestProtocolErrorReason sends frames that break RFC 6455 and checks each
// connection is counted as protocol_error, not client_closed, with 1002
// where the WebSocket library sends a close frame; a bystander sees every
// seq throughout.
func TestProtocolErrorReason(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	by := e.dialSubscribed("AAPL")
	cases := []struct {
		name string
		send []byte
		code int // -1: closed without a close frame
	}{
		{"rsv bit", frame(0x81|0x40, []byte(`{"op":"list"}`)), 1002},
		{"unknown opcode", frame(0x83, nil), 1002},
		{"fragmented ping", frame(0x09, nil), 1002},
		{"lone continuation", frame(0x80, []byte("x")), 1002},
		{"unmasked", []byte{0x81, 0x02, '{', '}'}, -1},
	}
	for i, tc := range cases {
		c := e.rawDial("")
		// As a client would, take the welcome before speaking: a bad frame
		// racing the welcome's write can end the session as client_closed
		// (the write fails first), which is not what this test is about.
		if _, _, err := c.readFrame(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(tc.send); err != nil {
			t.Fatal(err)
		}
		if got := c.closeCode(); got != tc.code {
			t.Errorf("%s: close code %d, want %d", tc.name, got, tc.code)
		}
		checkFor(t, 5*time.Second, func() error {
			if got := gatheredLabel(t, e, "tickgate_disconnects_total", "protocol_error"); got != float64(i+1) {
				return fmt.Errorf("%s: disconnects{reason=protocol_error} = %v, want %d", tc.name, got, i+1)
			}
			return nil
		})
		e.publish("AAPL", 1)
		expectTicks(by, "AAPL", e.seq["AAPL"]-1, 1)
	}
	if got := gatheredLabel(t, e, "tickgate_disconnects_total", "client_closed"); got != 0 {
		t.Errorf("disconnects{reason=client_closed} = %v, want 0", got)
	}
}

// TestInvalidUTF8Closes1007 sends a text message that is not UTF-8 (RFC
// 6455 8.1 requires failing the connection, with 1007), both whole and
// split so the bad sequence straddles two frames.
func TestInvalidUTF8Closes1007(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{}, fanout.Config{})
	by := e.dialSubscribed("AAPL")
	sends := [][]byte{
		frame(0x81, []byte("{\"op\":\"list\",\"x\":\"\xff\"}")),
		append(frame(0x01, []byte("{\"op\":\"list\",\"x\":\"\xe2\x82")), frame(0x80, []byte("\x28\"}"))...),
	}
	for i, send := range sends {
		c := e.rawDial("")
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		if got := c.closeCode(); got != 1007 {
			t.Fatalf("message %d: close code %d, want 1007", i, got)
		}
		checkFor(t, 5*time.Second, func() error {
			if got := gatheredLabel(t, e, "tickgate_disconnects_total", "invalid_utf8"); got != float64(i+1) {
				return fmt.Errorf("disconnects{reason=invalid_utf8} = %v, want %d", got, i+1)
			}
			return nil
		})
		e.publish("AAPL", 1)
		expectTicks(by, "AAPL", e.seq["AAPL"]-1, 1)
	}
	// Valid multi-byte UTF-8 is fine.
	c := e.dial("")
	c.Send(`{"op":"list","id":1,"note":"café €"}`)
	expectReply(c, "list", 1)
}

// TestGonePeerUnsubscribedAtOnce has a subscribed client stop reading
// until the gateway's writer is stuck on its full socket, then half-close
// its side (TCP FIN). The read side ends at once; the session must leave
// the engine then, and drop its leftover queue, not wait for the stuck
// write (here up to a minute).
func TestGonePeerUnsubscribedAtOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, Config{WriteTimeout: time.Minute}, fanout.Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20})
	by := e.dialSubscribed("AAPL")
	gone := e.rawDialWith(smallRcvBufDialer(), "")
	if _, err := gone.Write(frame(0x81, []byte(`{"op":"subscribe","symbols":["AAPL"]}`))); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		if n := e.engine.Subscriptions(); n != 2 {
			return fmt.Errorf("subscriptions = %d, want 2", n)
		}
		return nil
	})
	sess := e.sessionOf(gone)
	checkFor(t, 10*time.Second, func() error { // until the writer is stuck with a backlog
		e.publish("AAPL", 200)
		expectTicks(by, "AAPL", e.seq["AAPL"]-200, 200)
		if msgs, _ := sess.client.Len(); msgs < 1000 {
			return fmt.Errorf("%d messages queued behind the stuck write", msgs)
		}
		return nil
	})
	if err := gone.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 3*time.Second, func() error {
		if n := e.engine.Subscriptions(); n != 1 {
			return fmt.Errorf("subscriptions = %d after the peer left, want 1", n)
		}
		if msgs, _ := sess.client.Len(); msgs != 0 {
			return fmt.Errorf("%d messages still queued for a peer that left", msgs)
		}
		return nil
	})
	e.publish("AAPL", 3)
	expectTicks(by, "AAPL", e.seq["AAPL"]-3, 3)
}

// sessionOf finds the session of the one raw connection c.
func (e *testEnv) sessionOf(c *rawConn) *session {
	e.t.Helper()
	e.srv.mu.Lock()
	defer e.srv.mu.Unlock()
	for sess := range e.srv.sessions {
		if sess.out.conn.RemoteAddr().String() == c.LocalAddr().String() {
			return sess
		}
	}
	e.t.Fatal("no session for the raw connection")
	return nil
}

// smallRcvBufDialer dials with a 4 KiB socket receive buffer, set before
// the handshake so the TCP window stays small.
func smallRcvBufDialer() *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return err
	}}
}

// TestSymbolBySymbolNotClosed subscribes 100 symbols one message at a
// time, as fast as the socket takes them, with the default limits: some
// may be answered rate_limited, but the connection must stay open and,
// once the limit refills, work. A client that keeps flooding is still
// closed with 1008.
func TestSymbolBySymbolNotClosed(t *testing.T) {
	t.Parallel()
	syms := make([]string, 100)
	for i := range syms {
		syms[i] = fmt.Sprintf("S%03d", i)
	}
	e := newTestEnv(t, Config{}, fanout.Config{}, syms...)
	c := e.dial("")
	for i, sym := range syms {
		c.Send(fmt.Sprintf(`{"op":"subscribe","id":%d,"symbols":[%q]}`, i+1, sym))
	}
	subscribed, limited := 0, 0
	for range syms {
		switch m := c.Next(); {
		case m.Type == "subscribed":
			subscribed++
		case m.Type == "error" && m.Code == CodeRateLimited:
			limited++
		default:
			t.Fatalf("got %+v", m)
		}
	}
	t.Logf("%d subscribed, %d rate_limited", subscribed, limited)
	if subscribed < 50 {
		t.Fatalf("only %d of 100 subscribed, want at least msg_burst (50)", subscribed)
	}
	checkFor(t, 10*time.Second, func() error {
		c.Send(`{"op":"list","id":1000}`)
		if m := c.Next(); m.Type != "list" {
			return fmt.Errorf("got %+v", m)
		}
		return nil
	})

	flooder := e.dial("")
	start := time.Now()
	for i := 0; ; i++ {
		err := flooder.Conn.Write(context.Background(), websocket.MessageText, []byte(`{"op":"list"}`))
		if err != nil || time.Since(start) > 10*time.Second {
			break
		}
	}
	if got, err := closeStatus(flooder); got != websocket.StatusPolicyViolation {
		t.Fatalf("flooder close status %v (%v), want 1008", got, err)
	}
}

// TestAbuseCloseLogged closes one client for invalid UTF-8, one for a
// protocol error and lets one leave: each reason the client caused is
// logged once, with the remote address, and the client that just left is
// not logged. Holding back repeats within the second is closeLog's rule,
// tested on a fake clock in TestCloseLogHoldsBackRepeats.
func TestAbuseCloseLogged(t *testing.T) {
	t.Parallel()
	var buf logtest.Buffer
	e := newTestEnvLog(t, Config{}, fanout.Config{}, slog.New(slog.NewTextHandler(&buf, nil)))
	closeWith := func(send []byte, reason string) {
		c := e.rawDial("")
		if _, err := c.Write(send); err != nil {
			t.Fatal(err)
		}
		c.closeCode()
		checkFor(t, 5*time.Second, func() error {
			if got := gatheredLabel(t, e, "tickgate_disconnects_total", reason); got != 1 {
				return fmt.Errorf("disconnects{reason=%s} = %v, want 1", reason, got)
			}
			return nil
		})
	}
	closeWith(frame(0x81, []byte("\xff")), "invalid_utf8")
	closeWith(frame(0x83, nil), "protocol_error")
	leaver := e.dial("")
	leaver.Conn.Close(websocket.StatusNormalClosure, "")
	checkFor(t, 5*time.Second, func() error {
		if got := gatheredLabel(t, e, "tickgate_disconnects_total", "client_closed"); got != 1 {
			return fmt.Errorf("disconnects{reason=client_closed} = %v", got)
		}
		return nil
	})
	out := buf.String()
	for _, want := range []string{"reason=invalid_utf8 code=1007 remote=127.0.0.1 not_logged_since=0", "reason=protocol_error code=1002 remote=127.0.0.1 not_logged_since=0"} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("%d lines with %q, want 1:\n%s", n, want, out)
		}
	}
	if strings.Contains(out, "client_closed") {
		t.Errorf("a line for client_closed:\n%s", out)
	}
}

// TestCloseLogHoldsBackRepeats runs closeLog on a fake clock: three
// invalid UTF-8 closes and a protocol error in one instant give one line
// per reason; the two repeats are held back, still held a moment before
// the second is up, and counted in the next line after it.
func TestCloseLogHoldsBackRepeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf logtest.Buffer
		l := closeLog{log: slog.New(slog.NewTextHandler(&buf, nil))}
		remote := netip.MustParseAddr("192.0.2.7")
		for range 3 {
			l.closed(ReasonInvalidUTF8, remote)
		}
		l.closed(ReasonProtocolError, remote)
		l.closed(ReasonClientClosed, remote)
		count := func(s string) int { return strings.Count(buf.String(), s) }
		if count("reason=invalid_utf8 code=1007 remote=192.0.2.7 not_logged_since=0") != 1 || count("reason=protocol_error") != 1 || count("client_closed") != 0 {
			t.Fatalf("want one line each for invalid_utf8 and protocol_error, none for client_closed:\n%s", buf.String())
		}
		time.Sleep(time.Second - time.Nanosecond)
		l.closed(ReasonInvalidUTF8, remote) // still inside the second: held back too
		time.Sleep(time.Nanosecond)
		l.closed(ReasonInvalidUTF8, remote)
		if n := count("reason=invalid_utf8"); n != 2 || count("not_logged_since=3") != 1 {
			t.Errorf("%d invalid_utf8 lines, want 2, the second counting the three held back:\n%s", n, buf.String())
		}
	})
}
