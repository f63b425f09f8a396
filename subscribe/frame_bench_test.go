package subscribe

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// BenchmarkFrameWrite puts a figure on what coder/websocket adds per
// frame above the write system call, at the gateway's common frame (one
// ~100-byte tick): "websocket" writes it with conn.Write, "raw" writes
// the same frame pre-framed with one write on the TCP connection, which is
// what bench/floor does. The difference is the library's write path
// (locks, header, flush); both pay the system call and Go's netpoll
// wrapper. The peer discards what it reads on its own goroutine.
func BenchmarkFrameWrite(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 100)
	b.Run("websocket", func(b *testing.B) {
		conn := wsPair(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if err := conn.Write(ctx, websocket.MessageText, payload); err != nil {
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

// wsPair returns the server side of a WebSocket connection over loopback
// whose client, a bare TCP socket after a hand-made handshake, discards
// everything it reads.
func wsPair(b *testing.B) *websocket.Conn {
	b.Helper()
	conns := make(chan *websocket.Conn, 1)
	hold := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		conns <- c
		<-hold
	}))
	peer, err := net.Dial("tcp", strings.TrimPrefix(hs.URL, "http://"))
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(peer, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(peer)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			b.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
	}
	conn := <-conns
	drained := make(chan struct{})
	go func() { io.Copy(io.Discard, br); close(drained) }()
	b.Cleanup(func() {
		conn.CloseNow()
		peer.Close()
		<-drained
		close(hold)
		hs.Close()
	})
	return conn
}
