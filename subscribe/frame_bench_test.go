package subscribe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
)

// BenchmarkFrameWrite puts figures on the write path per frame at the
// gateway's common frame (one ~100-byte tick), each on a loopback
// connection whose peer discards what it reads on its own goroutine:
// "websocket" writes it with coder/websocket's conn.Write, as the gateway
// did (locks, header into its buffer, copy, flush into the frameWriter);
// "direct" with frameWriter.writeText, as the gateway does now (header in
// place, one write); "raw" writes the same frame pre-framed with one
// write on a plain TCP connection, which is what bench/floor does. All
// three pay the system call and Go's netpoll wrapper.
func BenchmarkFrameWrite(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 100)
	b.Run("websocket", func(b *testing.B) {
		conn := wsPair(b).conn
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := conn.Write(ctx, websocket.MessageText, payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("direct", func(b *testing.B) {
		out := wsPair(b).out
		buf := append(make([]byte, maxHeader), payload...)
		b.ReportAllocs()
		for b.Loop() {
			if err := out.writeText(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		conn := tcpPair(b)
		frame := append([]byte{0x81, byte(len(payload))}, payload...)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := conn.Write(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// tcpPair returns one end of a loopback TCP connection whose other end is
// drained until the benchmark ends.
func tcpPair(b testing.TB) net.Conn {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, peer); close(drained) }()
	b.Cleanup(func() { conn.Close(); <-drained; peer.Close() })
	return conn
}

// wsPair returns the server side of a WebSocket connection over loopback,
// accepted as Server does (acceptServer), whose client, a bare TCP socket
// after a hand-made handshake, discards everything it reads.
func wsPair(tb testing.TB) accepted {
	tb.Helper()
	url, conns := acceptServer(tb)
	peer := rawUpgrade(tb, &net.Dialer{}, url, "")
	a := <-conns
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, peer.br); close(drained) }()
	tb.Cleanup(func() {
		a.conn.CloseNow()
		peer.Close()
		<-drained
	})
	return a
}

// BenchmarkBatchWrite puts a figure on the session's write of one batch:
// the messages framed into a pooled buffer, written in one system call on
// a loopback connection whose peer discards what it reads, and counted in
// the metrics. "ws/1" is the gateway's common frame, one ~110-byte tick;
// "ws/16" a busy client's; "sse/..." the same batches as one event of an
// event stream of AAPL, whose id it writes too, and "sse100/..." of a
// stream of 100 symbols, whose id holds 100 positions. None allocates.
func BenchmarkBatchWrite(b *testing.B) {
	for _, tc := range []struct {
		name string
		open func(testing.TB) *session
	}{
		{"ws", benchSession},
		{"sse", func(tb testing.TB) *session { return benchStream(tb, 1) }},
		{"sse100", func(tb testing.TB) *session { return benchStream(tb, 100) }},
	} {
		for _, n := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/%d", tc.name, n), func(b *testing.B) {
				s := tc.open(b)
				batch := benchBatch(n)
				b.ReportAllocs()
				for b.Loop() {
					if err := s.writeFrame(batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestBatchWriteAllocs guards the delivery path of both transports: a
// batch framed, written and counted allocates nothing.
func TestBatchWriteAllocs(t *testing.T) {
	for name, s := range map[string]*session{"ws": benchSession(t), "sse": benchStream(t, 100)} {
		batch := benchBatch(16)
		var err error
		allocs := testing.AllocsPerRun(1000, func() {
			if e := s.writeFrame(batch); e != nil {
				err = e
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if allocs != 0 {
			t.Errorf("%s: writeFrame allocates %v times per batch, want 0", name, allocs)
		}
	}
}

// benchBatch is n ticks of AAPL as the engine queues them.
func benchBatch(n int) []fanout.Message {
	batch := make([]fanout.Message, n)
	for i := range batch {
		t := feed.Tick{Symbol: "AAPL", Seq: uint64(1041 + i), Price: 228.77, Size: 100, Bid: 228.76, Ask: 228.79, TS: time.Now().UnixNano()}
		batch[i] = fanout.Message{Data: t.AppendJSON(nil), TS: t.TS}
	}
	return batch
}

// benchServer is a real Server, as far as a session's writer needs one.
func benchServer(tb testing.TB) *Server {
	tb.Helper()
	reg := prometheus.NewRegistry()
	engine, err := fanout.New(fanout.Config{}, feed.Listed(testSymbols...), reg)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := NewServer(Config{}, engine, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	return srv
}

// benchSession is a WebSocket session over loopback, as far as its writer
// needs one.
func benchSession(tb testing.TB) *session {
	tb.Helper()
	a := wsPair(tb)
	return &session{srv: benchServer(tb), wire: &webSocket{conn: a.conn, out: a.out}, out: a.out}
}

// benchStream is an event stream session over loopback of AAPL and
// syms-1 other symbols, each with a position, as far as its writer needs
// one.
func benchStream(tb testing.TB, syms int) *session {
	tb.Helper()
	names, since := []string{"AAPL"}, map[string]fanout.Position{"AAPL": {Seq: 1040, Epoch: "k3x9f0a1b2c4"}}
	for i := 1; i < syms; i++ {
		names = append(names, fmt.Sprintf("S%03d", i))
		since[names[i]] = fanout.Position{Seq: 100000 + uint64(i), Epoch: "k3x9f0a1b2c4"}
	}
	es := &eventStream{conn: tcpPair(tb)}
	es.out.init(es.conn, 10*time.Second)
	es.ids = newPositions(names, since)
	es.ids.follow([]fanout.Message{{Data: []byte(`{"type":"subscribed","epochs":{"AAPL":"k3x9f0a1b2c4"}}`)}})
	return &session{srv: benchServer(tb), wire: es, connSlot: connSlot{kind: overSSE}, out: &es.out}
}
