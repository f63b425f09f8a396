package subscribe

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/fanout"
	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/poll"
)

// BenchmarkIdleSession puts figures on what one idle subscribed session
// holds in the gateway's process: b.N clients connect with ?symbols=, read
// their welcome, subscribed reply and one tick, and stay connected; after
// two collections it reports, per session, the live heap, the goroutine
// stack bytes and the goroutines (docs/performance.md, "Memory per idle
// connection"). Each session has also been through one ping, answered,
// since a reader handles the pong on its own stack. The clients are raw blocking sockets driven by system
// calls, so they add no goroutine, no netpoll state and almost no heap to
// what is measured. Run it with a fixed count:
//
//	go test -run '^$' -bench BenchmarkIdleSession -benchtime 2000x ./subscribe/
//
// With -idleheap FILE (and -memprofilerate 1, for every allocation) it
// also writes the heap profile at that moment, by allocation site.
func BenchmarkIdleSession(b *testing.B) {
	symbols := []string{"AAPL", "MSFT", "NVDA", "AMZN"}
	reg := prometheus.NewRegistry()
	engine, err := fanout.New(fanout.Config{}, symbols, reg)
	if err != nil {
		b.Fatal(err)
	}
	// One ping per session, due after every client has connected (the
	// loop below waits for each) and before the second.
	cfg := Config{MaxConnections: 1 << 20, PingInterval: idlePingInterval}
	srv, err := NewServer(cfg, engine, reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { engine.Run(ctx); close(done) }()
	hs := httptest.NewServer(srv)
	defer func() {
		srv.Drain(context.Background(), 0)
		hs.Close()
		cancel()
		<-done
	}()
	port := hs.Listener.Addr().(*net.TCPAddr).Port
	for _, sym := range symbols { // every session's subscribe gets a snapshot
		engine.Publish(feed.Tick{Symbol: sym, Seq: 1, Price: 100, Size: 1, TS: time.Now().UnixNano()})
	}

	before := memorySample()
	fds := make([]int, 0, b.N)
	defer func() {
		for _, fd := range fds {
			syscall.Close(fd)
		}
	}()
	buf := make([]byte, 4096)
	for i := 0; b.Loop(); i++ {
		fd, err := rawSubscribe(port, symbols[i%len(symbols)], buf)
		if err != nil {
			b.Fatal(err)
		}
		fds = append(fds, fd)
	}
	b.StopTimer()
	for _, sym := range symbols { // one live tick each, through the writer
		engine.Publish(feed.Tick{Symbol: sym, Seq: 2, Price: 101, Size: 1, TS: time.Now().UnixNano()})
	}
	for _, fd := range fds {
		if err := rawReadUntil(fd, buf, []byte(`"seq":2`)); err != nil {
			b.Fatal(err)
		}
	}
	for _, fd := range fds {
		if err := rawPong(fd, buf); err != nil {
			b.Fatal(err)
		}
	}
	poll.Until(b, 10*time.Second, func() error {
		if n := srv.Connections(); n != len(fds) {
			return fmt.Errorf("%d sessions of %d", n, len(fds))
		}
		return nil
	})
	after := memorySample()
	if *idleHeap != "" {
		writeHeapProfile(b, *idleHeap)
	}
	n := float64(len(fds))
	b.ReportMetric(float64(after.heap-before.heap)/n, "heap-B/conn")
	b.ReportMetric(float64(after.stacks-before.stacks)/n, "stack-B/conn")
	b.ReportMetric(float64(after.goroutines-before.goroutines)/n, "goroutines/conn")
}

// idlePingInterval must be longer than connecting b.N clients takes.
const idlePingInterval = 3 * time.Second

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

// rawSubscribe opens a blocking socket to the gateway on port, upgrades it
// to a WebSocket subscribed to sym, and reads until the subscribed reply
// and the snapshot. It returns the socket's descriptor.
func rawSubscribe(port int, sym string, buf []byte) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	tv := syscall.Timeval{Sec: 10}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	req := "GET /ws?symbols=" + sym + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := syscall.Write(fd, []byte(req)); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	if err := rawReadUntil(fd, buf, []byte(`"seq":1`)); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

// rawReadUntil reads fd until what it read contains want. It keeps the
// last len(want) bytes of each read, so want may span two reads.
func rawReadUntil(fd int, buf, want []byte) error {
	have := 0
	for {
		n, err := syscall.Read(fd, buf[have:])
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		have += n
		if bytes.Contains(buf[:have], want) {
			return nil
		}
		keep := min(have, len(want))
		copy(buf, buf[have-keep:have])
		have = keep
	}
}

// rawPong reads the ping frame that is next on fd and answers it with a
// pong of the same payload, masked with a zero key as a client must mask.
func rawPong(fd int, buf []byte) error {
	if err := rawReadFull(fd, buf[:2]); err != nil {
		return err
	}
	if buf[0] != 0x89 || buf[1] > 125 {
		return fmt.Errorf("want a ping frame, got header % x", buf[:2])
	}
	n := int(buf[1])
	pong := append([]byte{0x8a, 0x80 | byte(n), 0, 0, 0, 0}, make([]byte, n)...)
	if err := rawReadFull(fd, pong[6:]); err != nil {
		return err
	}
	_, err := syscall.Write(fd, pong)
	return err
}

// rawReadFull reads exactly len(p) bytes from fd.
func rawReadFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := syscall.Read(fd, p)
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
