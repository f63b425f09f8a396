package nats

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tickgate/tickgate/feed"
)

// maxSubjects caps Publisher's subject cache; symbols past it still publish,
// at the cost of building their subject each time.
const maxSubjects = 4096

// Publisher is a feed.Sink that publishes each tick, as feed.Tick.AppendJSON
// encodes it, on Prefix.SYMBOL: the subjects a Source reads. Publish must be
// called from one goroutine, as feed.Sink promises; Flush, Published and
// Errors may be called from any.
//
// A failed publish is counted and remembered, never fatal: a feed that
// outlives a NATS outage keeps going. While nats.go is reconnecting it
// buffers publishes (8 MB by default) and fails them only when that buffer
// is full.
type Publisher struct {
	nc     *natsgo.Conn
	prefix string // with the trailing '.'

	// Owned by the Publish goroutine. buf is reused for every tick: nc.Publish
	// has copied it into the connection's buffer when it returns.
	buf      []byte
	subjects map[string]string // symbol → subject

	published atomic.Uint64
	errors    atomic.Uint64
	failed    atomic.Uint64 // errors since the last Flush

	mu      sync.Mutex // protects lastErr
	lastErr error
}

var _ feed.Sink = (*Publisher)(nil)

// NewPublisher returns a Publisher on nc, which the caller keeps owning and
// closes. prefix "" means "ticks", as in Config. To ride out outages, nc
// should be connected with nats.MaxReconnects(-1), as Source connects.
func NewPublisher(nc *natsgo.Conn, prefix string) *Publisher {
	if prefix == "" {
		prefix = defaultPrefix
	}
	return &Publisher{
		nc:       nc,
		prefix:   prefix + ".",
		buf:      make([]byte, 0, 256),
		subjects: make(map[string]string),
	}
}

// Publish encodes t and publishes it on Prefix.SYMBOL.
func (p *Publisher) Publish(t feed.Tick) {
	p.buf = t.AppendJSON(p.buf[:0])
	if err := p.nc.Publish(p.subject(t.Symbol), p.buf); err != nil {
		p.fail(err) // not wrapped here: in an outage this runs per tick
		return
	}
	p.published.Add(1)
}

// subject returns Prefix.sym, built once per symbol.
func (p *Publisher) subject(sym string) string {
	if subj, ok := p.subjects[sym]; ok {
		return subj
	}
	subj := p.prefix + sym
	if len(p.subjects) < maxSubjects {
		p.subjects[sym] = subj
	}
	return subj
}

// fail counts err and keeps it for Flush.
func (p *Publisher) fail(err error) {
	p.errors.Add(1)
	p.failed.Add(1)
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
}

// Flush waits up to timeout for the server to have everything published so
// far. It also reports publishes that failed since the previous Flush, as
// one error wrapping the last of them.
func (p *Publisher) Flush(timeout time.Duration) error {
	if err := p.nc.FlushTimeout(timeout); err != nil {
		return fmt.Errorf("nats: flush: %w", err)
	}
	if n := p.failed.Swap(0); n > 0 {
		p.mu.Lock()
		err := p.lastErr
		p.mu.Unlock()
		return fmt.Errorf("nats: publish: %d ticks failed since the last flush, last: %w", n, err)
	}
	return nil
}

// Published returns how many ticks were handed to nats.go successfully.
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Errors returns how many ticks failed to publish.
func (p *Publisher) Errors() uint64 { return p.errors.Load() }
