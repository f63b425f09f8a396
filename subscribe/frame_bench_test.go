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
func tcpPair(b *testing.B) net.Conn {
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
// "ws/16" a busy client's. Each allocates nothing.
func BenchmarkBatchWrite(b *testing.B) {
	for _, n := range []int{1, 16} {
		b.Run(fmt.Sprintf("ws/%d", n), func(b *testing.B) {
			s := benchSession(b)
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

// benchBatch is n ticks of AAPL as the engine queues them.
func benchBatch(n int) []fanout.Message {
	batch := make([]fanout.Message, n)
	for i := range batch {
		t := feed.Tick{Symbol: "AAPL", Seq: uint64(1041 + i), Price: 228.77, Size: 100, Bid: 228.76, Ask: 228.79, TS: time.Now().UnixNano()}
		batch[i] = fanout.Message{Data: t.AppendJSON(nil), TS: t.TS}
	}
	return batch
}

// benchSession is a WebSocket session of a real Server over loopback, as
// far as its writer needs one.
func benchSession(b *testing.B) *session {
	b.Helper()
	reg := prometheus.NewRegistry()
	engine, err := fanout.New(fanout.Config{}, testSymbols, reg)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := NewServer(Config{}, engine, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	a := wsPair(b)
	return &session{srv: srv, wire: &webSocket{conn: a.conn, out: a.out}, out: a.out}
}
