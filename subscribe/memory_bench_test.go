package subscribe

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/internal/poll"
)

// BenchmarkIdleSession puts figures on what one idle subscribed session
// holds in the gateway's process: b.N clients connect with ?symbols=, read
// their welcome, subscribed reply and snapshot, then a live tick, and
// answer one ping (a reader handles the pong on its own stack); after two
// collections it reports, per session, the live heap, the goroutine stack
// bytes and the goroutines (docs/performance.md, "Memory per idle
// connection"). The clients are raw blocking sockets driven by system
// calls, so they add no goroutine, no netpoll state and almost no heap to
// what is measured. Run it with a fixed count:
//
//	go test -run '^$' -bench BenchmarkIdleSession -benchtime 2000x ./subscribe/
//
// With -idleheap FILE (and -memprofilerate 1, for every allocation) it
// also writes the heap profile at that moment, by allocation site.
func BenchmarkIdleSession(b *testing.B) {
	symbols := []string{"AAPL", "MSFT", "NVDA", "AMZN"}
	e := newTestEnv(b, Config{MaxConnections: 1 << 20, PingInterval: idlePingInterval}, fanout.Config{}, symbols...)
	port := e.port()
	for _, sym := range symbols { // every session's subscribe gets a snapshot
		e.publish(sym, 1)
	}

	before := memorySample()
	clients := make([]*rawClient, 0, b.N)
	defer func() {
		for _, c := range clients {
			syscall.Close(c.fd)
		}
	}()
	for i := 0; b.Loop(); i++ {
		c, err := rawSubscribe(port, symbols[i%len(symbols)])
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
		if err := c.readUntil(`"seq":1`); err != nil {
			b.Fatal(err)
		}
	}
	for _, sym := range symbols { // one live tick each, through the writer
		e.publish(sym, 1)
	}
	for _, c := range clients {
		if err := c.readUntil(`"seq":2`); err != nil {
			b.Fatal(err)
		}
		for !c.ponged {
			if err := c.readUntil("\x00"); err != nil { // no text has it: up to the ping
				b.Fatal(err)
			}
		}
	}
	poll.Until(b, 10*time.Second, func() error {
		if n := e.srv.Connections(); n != len(clients) {
			return fmt.Errorf("%d sessions of %d", n, len(clients))
		}
		return nil
	})
	after := memorySample()
	if *idleHeap != "" {
		writeHeapProfile(b, *idleHeap)
	}
	n := float64(len(clients))
	b.ReportMetric(float64(after.heap-before.heap)/n, "heap-B/conn")
	b.ReportMetric(float64(after.stacks-before.stacks)/n, "stack-B/conn")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/conn")
}

// port is the port e's server listens on.
func (e *testEnv) port() int {
	u, err := url.Parse(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// idlePingInterval is the sessions' ping interval in BenchmarkIdleSession:
// the first ping comes while the clients connect or read, the second,
// unless connecting b.N clients takes longer, after the figures are taken.
const idlePingInterval = 2 * time.Second

var idleHeap = flag.String("idleheap", "", "BenchmarkIdleSession: write the heap profile of the idle sessions to this file")

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// memory is the process's live heap, goroutine stack bytes and goroutines.
type memory struct{ heap, stacks, goroutines uint64 }

// memorySample collects twice, so that what the last cycle freed is not
// counted and idle goroutines' stacks have been shrunk where they can be,
// then reads the runtime's figures.
func memorySample() memory {
	runtime.GC()
	runtime.GC()
	s := []rtmetrics.Sample{
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/stacks:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	rtmetrics.Read(s)
	return memory{s[0].Value.Uint64(), s[1].Value.Uint64(), s[2].Value.Uint64()}
}

// rawClient is a WebSocket client on a blocking socket, read frame by
// frame with system calls: no goroutine, no netpoll, no buffer of its own.
type rawClient struct {
	fd     int
	ponged bool // it has answered a ping
}

// rawSubscribe opens a blocking socket to the gateway on port and upgrades
// it to a WebSocket subscribed to sym, up to the end of the response
// header.
func rawSubscribe(port int, sym string) (*rawClient, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	c := &rawClient{fd: fd}
	tv := syscall.Timeval{Sec: 10}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	req := "GET /ws?symbols=" + sym + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := syscall.Write(fd, []byte(req)); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	// The response header, byte by byte: the frames behind it are read
	// as frames.
	var last [4]byte
	for string(last[:]) != "\r\n\r\n" {
		copy(last[:], last[1:])
		if err := c.readFull(last[3:]); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("handshake: %w", err)
		}
	}
	return c, nil
}

// readUntil reads frames until a text frame that contains want, answering
// every ping on the way with a pong of the same payload.
func (c *rawClient) readUntil(want string) error {
	var hdr [4]byte
	for {
		if err := c.readFull(hdr[:2]); err != nil {
			return err
		}
		n := int(hdr[1] & 0x7f)
		if n == 126 {
			if err := c.readFull(hdr[2:4]); err != nil {
				return err
			}
			n = int(binary.BigEndian.Uint16(hdr[2:]))
		}
		if n > 1<<16 {
			return fmt.Errorf("frame header % x: too long for this test", hdr[:2])
		}
		payload := make([]byte, n)
		if err := c.readFull(payload); err != nil {
			return err
		}
		switch hdr[0] {
		case 0x89: // ping: the pong, masked with a zero key as a client must
			pong := append([]byte{0x8a, 0x80 | byte(n), 0, 0, 0, 0}, payload...)
			if _, err := syscall.Write(c.fd, pong); err != nil {
				return err
			}
			c.ponged = true
			if want == "\x00" {
				return nil
			}
		case 0x81:
			if strings.Contains(string(payload), want) {
				return nil
			}
		default:
			return fmt.Errorf("frame header % x", hdr[:2])
		}
	}
}

// readFull reads exactly len(p) bytes from the socket.
func (c *rawClient) readFull(p []byte) error {
	for len(p) > 0 {
		n, err := syscall.Read(c.fd, p)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		p = p[n:]
	}
	return nil
}
