package subscribe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
)

// accepted is the server side of one connection accepted as Server does.
type accepted struct {
	out  *frameWriter
	conn *websocket.Conn
}

// acceptServer serves WebSocket upgrades on loopback the way Server does
// (its hijacker puts a hijackedConn under coder/websocket) and hands each
// accepted connection over the channel; cleanup closes them.
func acceptServer(tb testing.TB) (url string, conns <-chan accepted) {
	tb.Helper()
	ch := make(chan accepted, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := &hijacker{ResponseWriter: w, limits: meterLimits{1 << 30, 1 << 20, time.Second}, writeTimeout: 10 * time.Second}
		conn, err := websocket.Accept(h, r, nil)
		if err != nil {
			return
		}
		tb.Cleanup(func() { conn.CloseNow() })
		ch <- accepted{&h.conn.out, conn}
	}))
	tb.Cleanup(hs.Close)
	return "ws" + hs.URL[len("http"):], ch
}

// textFrame returns a frame buffer (maxHeader bytes of room, then the
// payload) holding n bytes that differ from frame to frame.
func textFrame(i, n int) []byte {
	buf := make([]byte, maxHeader, maxHeader+n)
	for j := range n {
		buf = append(buf, 'a'+byte((i+j)%26))
	}
	return buf
}

// TestDataFrameSizes writes frames across the three header forms (7-bit,
// 16-bit and 64-bit lengths, RFC 6455 5.2) and past coder/websocket's
// 4 KiB buffer through writeText: a coder/websocket client must read each
// one intact, as a text message, in order.
func TestDataFrameSizes(t *testing.T) {
	t.Parallel()
	url, conns := acceptServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseNow()
	client.SetReadLimit(1 << 20)
	a := <-conns

	sizes := []int{0, 125, 126, 65535, 65536, 200 << 10}
	var wg sync.WaitGroup
	var werr error
	wg.Go(func() { // the client reads on the test's goroutine meanwhile
		for i, n := range sizes {
			if werr = a.out.writeText(textFrame(i, n)); werr != nil {
				return
			}
		}
	})
	for i, n := range sizes {
		typ, got, err := client.Read(ctx)
		if err != nil {
			t.Fatalf("frame %d (%d bytes): %v", i, n, err)
		}
		if want := textFrame(i, n)[maxHeader:]; typ != websocket.MessageText || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %v of %d bytes, want text of %d bytes as written", i, typ, len(got), n)
		}
	}
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
}

// TestWriteTextAllocs guards the data frame write path: framing and
// writing a frame on a real connection allocates nothing.
func TestWriteTextAllocs(t *testing.T) {
	out := wsPair(t).out
	buf := textFrame(0, 100)
	var err error
	allocs := testing.AllocsPerRun(1000, func() {
		if e := out.writeText(buf); e != nil {
			err = e
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Fatalf("writeText allocates %v times per frame, want 0", allocs)
	}
}

// TestPutHeader checks each length takes the shortest header form, as
// RFC 6455 5.2 requires, right before the payload.
func TestPutHeader(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		buf := textFrame(0, tc.n)
		if got := buf[putHeader(buf):maxHeader]; !bytes.Equal(got, tc.want) {
			t.Errorf("header for %d bytes: % x, want % x", tc.n, got, tc.want)
		}
	}
}

// TestPingsBetweenDataFrames has a client ping as fast as the server
// answers while a fast feed runs: the server's pongs (written by
// coder/websocket through frameWriter.Write) and its data frames (written
// by writeText) share the socket, and every tick must arrive, in order,
// with every ping answered and no protocol error on either side. Not
// parallel: its feed and pings would load the box under the latency
// tests (abuse_test.go).
func TestPingsBetweenDataFrames(t *testing.T) {
	e := newTestEnv(t, Config{InboundFrames: 1 << 20}, fanout.Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20})
	c := e.dialSubscribed("AAPL")

	const ticks = 20000
	var reader, pinger sync.WaitGroup
	var readErr, pingErr error
	pings := 0
	stop := make(chan struct{})
	reader.Go(func() { readErr = readTicks(c, "AAPL", 0, ticks) })
	pinger.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pingErr = c.Conn.Ping(ctx)
			cancel()
			if pingErr != nil {
				return
			}
			pings++
		}
	})
	for range ticks / 500 {
		e.publish("AAPL", 500)
	}
	reader.Wait()
	close(stop)
	pinger.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if pingErr != nil || pings < 10 {
		t.Fatalf("%d pings answered during the feed, then %v", pings, pingErr)
	}
	t.Logf("%d pings answered during %d ticks", pings, ticks)
	if got := testutil.ToFloat64(e.srv.metrics.disconnects[overWebSocket][ReasonProtocolError]); got != 0 {
		t.Fatalf("disconnects{reason=protocol_error} = %v", got)
	}
}

// TestNoDataFrameAfterClose has a raw client close while ticks stream to
// it. The server echoes the close (coder/websocket, on its read
// goroutine) while the session's writer may be mid-batch: after the
// server's close frame only the end of the stream may follow (RFC 6455
// 5.5.1). Several rounds, since the race is narrow; not parallel, for
// the reason TestPingsBetweenDataFrames gives.
func TestNoDataFrameAfterClose(t *testing.T) {
	e := newTestEnv(t, Config{}, fanout.Config{QueueBytes: 64 << 20, ConflateAt: 64 << 20})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() { e.feed("AAPL", stop) })

	for round := range 10 {
		rc := e.rawDial("")
		rc.Write(maskedText(`{"op":"subscribe","symbols":["AAPL"]}`))
		for data := 0; data < 3; { // a reply, then ticks: the writer is busy
			b0, _, err := rc.readFrame()
			if err != nil || b0 != 0x81 {
				t.Fatalf("round %d: frame % x before the close: %v", round, b0, err)
			}
			data++
		}
		rc.Write(frame(0x88, []byte{0x03, 0xe8})) // 1000
		for {
			b0, _, err := rc.readFrame()
			if err != nil {
				t.Fatalf("round %d: connection ended without a close frame: %v", round, err)
			}
			if b0 == 0x88 {
				break
			}
		}
		if b0, p, err := rc.readFrame(); !errors.Is(err, io.EOF) {
			t.Fatalf("round %d: after the close frame: frame % x (%d bytes), %v; want EOF", round, b0, len(p), err)
		}
		rc.Close()
	}
}

// TestNoDataFrameAfterServerClose closes from the server's side with
// coder/websocket's conn.Close, which sends the close frame and then waits
// for the peer's: in that wait a data frame must fail with net.ErrClosed
// and nothing may follow the close frame on the wire.
func TestNoDataFrameAfterServerClose(t *testing.T) {
	t.Parallel()
	url, conns := acceptServer(t)
	rc := rawUpgrade(t, &net.Dialer{}, url, "")
	rc.SetDeadline(time.Now().Add(10 * time.Second))
	a := <-conns
	closed := make(chan error, 1)
	go func() { closed <- a.conn.Close(websocket.StatusGoingAway, "bye") }()
	if b0, _, err := rc.readFrame(); b0 != 0x88 || err != nil {
		t.Fatalf("first frame % x, %v; want the close frame", b0, err)
	}
	if err := a.out.writeText(textFrame(0, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("data frame after the close frame: %v, want net.ErrClosed", err)
	}
	rc.Write(frame(0x88, []byte{0x03, 0xe9})) // 1001 back, as coder/websocket expects
	if err := <-closed; err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	if b0, p, err := rc.readFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close frame: frame % x (%d bytes), %v; want EOF", b0, len(p), err)
	}
}

// feed publishes ticks of sym as fast as the engine takes them (Publish
// waits for room in the shard's queue) until stop is closed.
func (e *testEnv) feed(sym string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		e.mu.Lock()
		e.seq[sym]++
		seq := e.seq[sym]
		px := 100 + float64(seq%100)/100
		e.put(feed.Tick{Symbol: sym, Seq: seq, Price: px, Size: 100, Bid: px - 0.01, Ask: px + 0.01, TS: time.Now().UnixNano()})
		e.mu.Unlock()
	}
}

// readFrame reads one unmasked server frame whole.
func (c *rawConn) readFrame() (b0 byte, payload []byte, err error) {
	var hdr [10]byte
	if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
		return 0, nil, err
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		_, err = io.ReadFull(c.br, hdr[2:4])
		n = uint64(binary.BigEndian.Uint16(hdr[2:]))
	case 127:
		_, err = io.ReadFull(c.br, hdr[2:10])
		n = binary.BigEndian.Uint64(hdr[2:])
	}
	if err != nil || n > 1<<20 {
		return hdr[0], nil, fmt.Errorf("frame header % x: %w", hdr[:2], io.ErrUnexpectedEOF)
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(c.br, payload)
	return hdr[0], payload, err
}
