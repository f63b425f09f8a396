package main

import (
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/tickgate/tickgate/feed"
)

// sub is one subscribed socket: its raw descriptor, written directly, and
// the net.Conn that keeps the descriptor open until the sub is dropped.
type sub struct {
	fd   int
	conn interface{ Close() error }
	dead atomic.Bool
}

// registry holds each symbol's subscribers as a copy-on-write slice: the
// feed goroutine reads a snapshot without a lock, registrations copy.
type registry struct {
	symbols []string
	index   map[string]int
	subs    []atomic.Pointer[[]*sub]
	mu      sync.Mutex // serializes registrations (copy, then store)

	// Owned by the feed goroutine (Publish or the NATS callback).
	frame []byte
}

var _ feed.Sink = (*registry)(nil)

func newRegistry(symbols []string) *registry {
	r := &registry{symbols: symbols, index: map[string]int{}, subs: make([]atomic.Pointer[[]*sub], len(symbols))}
	for i, s := range symbols {
		r.index[s] = i
	}
	return r
}

// add subscribes s to the symbols it names; unknown names are ignored.
func (r *registry) add(s *sub, symbols []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range symbols {
		i, ok := r.index[name]
		if !ok {
			continue
		}
		var next []*sub
		if cur := r.subs[i].Load(); cur != nil {
			next = make([]*sub, len(*cur), len(*cur)+1)
			copy(next, *cur)
		}
		next = append(next, s)
		r.subs[i].Store(&next)
	}
}

// List does nothing: the floor carries the symbols it was started with.
func (r *registry) List(feed.Listing) {}

// Publish frames the tick once and writes it to every subscriber.
func (r *registry) Publish(t feed.Tick) {
	r.frame = t.AppendJSON(r.frame[:0])
	r.deliver(t.Symbol, r.frame)
}

// deliver frames payload once and writes the frame to each live
// subscriber of sym with one write(2).
func (r *registry) deliver(sym string, payload []byte) {
	i, ok := r.index[sym]
	if !ok {
		return
	}
	list := r.subs[i].Load()
	if list == nil {
		return
	}
	frame := appendFrame(make([]byte, 0, len(payload)+10), payload)
	for _, s := range *list {
		if !s.dead.Load() {
			s.write(frame)
		}
	}
}

// write makes one write(2) of frame; a short or failed write (the socket
// buffer is full, or the peer is gone) drops the subscriber.
func (s *sub) write(frame []byte) {
	for {
		n, err := syscall.Write(s.fd, frame)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n < len(frame) {
			s.dead.Store(true)
			s.conn.Close()
		}
		return
	}
}

// appendFrame appends an unmasked, final text frame carrying payload.
func appendFrame(dst, payload []byte) []byte {
	n := len(payload)
	switch {
	case n < 126:
		dst = append(dst, 0x81, byte(n))
	case n < 1<<16:
		dst = append(dst, 0x81, 126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x81, 127)
		for sh := 56; sh >= 0; sh -= 8 {
			dst = append(dst, byte(uint64(n)>>sh))
		}
	}
	return append(dst, payload...)
}
