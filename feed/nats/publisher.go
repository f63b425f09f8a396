package nats

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"golang.org/x/time/rate"

	"github.com/tickgate/tickgate/feed"
)

// maxSubjects caps Publisher's subject cache; symbols past it still publish,
// at the cost of building their subject each time.
const maxSubjects = 4096

// Publisher is a feed.DepthSink that publishes each tick, as
// feed.Tick.AppendUpstreamJSON encodes it (with its epoch), on
// Prefix.SYMBOL, and each book and status message in its upstream form on
// Prefix.book.SYMBOL and Prefix.status.SYMBOL (depth.go): the subjects a
// Source reads. Publish, PublishBook and PublishStatus must be called from
// one goroutine, as feed.Sink promises; Heartbeat, Flush, Published,
// Dropped, Errors and AckFailures may be called from any. Its counts are
// of messages, whatever their kind.
//
// A failed publish is counted and remembered, never fatal: a feed that
// outlives a NATS outage keeps going. A Publisher made by Connect drops the
// ticks it cannot send while disconnected and counts them (Dropped): the
// feed moves on, so a tick held back through an outage would reach clients
// late and stale. One made by NewPublisher on a connection with nats.go's
// default reconnect buffer instead buffers up to 8 MB while reconnecting
// and sends it all on reconnect.
//
// One made by Connect with a Stream publishes each tick as a request for
// JetStream's ack, at most PublisherConfig.AckWindow unacknowledged, and
// counts the ticks the stream did not store (AckFailures); see acker.
type Publisher struct {
	nc     *natsgo.Conn
	owned  bool   // Connect made nc; Close closes it
	prefix string // with the trailing '.'
	hb     string // Prefix._hb
	epoch  string // heartbeats carry it; "" for none
	stream string // Connect's Stream; "" for none
	acks   *acker // nil: core NATS, no acks; set before the first Publish
	// shown is acks for the metrics and AckFailures, which may read it
	// while Connect is still setting up.
	shown atomic.Pointer[acker]
	log   *slog.Logger
	warn  rate.Sometimes // rate-limits warnings about acks

	// Owned by the Publish goroutine. buf is reused for every message:
	// nc.Publish has copied it into the connection's buffer when it returns.
	buf      []byte
	ticks    subjects // Prefix.SYM
	books    subjects // Prefix.book.SYM
	statuses subjects // Prefix.status.SYM

	published atomic.Uint64
	dropped   atomic.Uint64 // messages not sent for want of a connection
	downAt    atomic.Uint64 // dropped when the connection was lost
	errors    atomic.Uint64
	failed    atomic.Uint64 // errors since the last Flush

	mu      sync.Mutex // protects lastErr
	lastErr error
}

var _ feed.DepthSink = (*Publisher)(nil)

// NewPublisher returns a Publisher on nc, which the caller keeps owning and
// closes. prefix "" means "ticks", as in Config. To ride out outages, nc
// should be connected with nats.MaxReconnects(-1), as Source connects; to
// drop rather than buffer while disconnected, with nats.ReconnectBufSize(-1),
// as Connect does.
func NewPublisher(nc *natsgo.Conn, prefix string) *Publisher {
	p := newPublisher(prefix, slog.New(slog.DiscardHandler))
	p.nc = nc
	return p
}

func newPublisher(prefix string, log *slog.Logger) *Publisher {
	if prefix == "" {
		prefix = defaultPrefix
	}
	return &Publisher{
		prefix:   prefix + ".",
		hb:       prefix + "." + HeartbeatToken,
		log:      log,
		warn:     rate.Sometimes{Interval: time.Second},
		buf:      make([]byte, 0, 256),
		ticks:    newSubjects(prefix + "."),
		books:    newSubjects(prefix + "." + BookToken + "."),
		statuses: newSubjects(prefix + "." + StatusToken + "."),
	}
}

// Publish encodes t and publishes it on Prefix.SYMBOL. While disconnected
// (with nats.ReconnectBufSize(-1)) the tick is dropped and counted. With
// acks it first waits for room in the window.
func (p *Publisher) Publish(t feed.Tick) {
	p.buf = t.AppendUpstreamJSON(p.buf[:0])
	p.send(p.ticks.of(t.Symbol))
}

// send publishes p.buf on subject, counting the outcome.
func (p *Publisher) send(subject string) {
	var err error
	if p.acks == nil {
		err = p.nc.Publish(subject, p.buf)
	} else if err = p.nc.PublishRequest(subject, p.acks.next(), p.buf); err != nil {
		p.acks.unsent()
	}
	switch {
	case err == nil:
		p.published.Add(1)
	case errors.Is(err, natsgo.ErrReconnectBufExceeded):
		p.dropped.Add(1)
	default:
		p.fail(err) // not wrapped here: in an outage this runs per tick
	}
}

// Heartbeat publishes {"type":"heartbeat","ts":<unix ns>,"epoch":"<e>"}
// on Prefix._hb (no "epoch" without one), which tells a Source that the
// feed is alive though no tick came, and names the publisher's run. A
// heartbeat that cannot be sent is not counted: the next one will do.
func (p *Publisher) Heartbeat() {
	var b [96]byte
	msg := strconv.AppendInt(append(b[:0], `{"type":"heartbeat","ts":`...), time.Now().UnixNano(), 10)
	if p.epoch != "" {
		msg = append(append(append(msg, `,"epoch":"`...), p.epoch...), '"')
	}
	_ = p.nc.Publish(p.hb, append(msg, '}'))
}

// subjects builds the subjects of one kind of message, prefix+SYM, once
// per symbol.
type subjects struct {
	prefix string
	bySym  map[string]string
}

func newSubjects(prefix string) subjects {
	return subjects{prefix: prefix, bySym: make(map[string]string)}
}

// of returns sym's subject.
func (s subjects) of(sym string) string {
	if subj, ok := s.bySym[sym]; ok {
		return subj
	}
	subj := s.prefix + sym
	if len(s.bySym) < maxSubjects {
		s.bySym[sym] = subj
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
// far and, with acks, for the stream to have acknowledged it. It also
// reports publishes that failed since the previous Flush, as one error
// wrapping the last of them.
func (p *Publisher) Flush(timeout time.Duration) error {
	start := time.Now()
	if err := p.nc.FlushTimeout(timeout); err != nil {
		return fmt.Errorf("nats: flush: %w", err)
	}
	if p.acks != nil && !p.acks.drain(timeout-time.Since(start)) {
		return fmt.Errorf("nats: flush: %d messages not acknowledged by the stream within %v", p.acks.pending(), timeout)
	}
	if n := p.failed.Swap(0); n > 0 {
		p.mu.Lock()
		err := p.lastErr
		p.mu.Unlock()
		return fmt.Errorf("nats: publish: %d messages failed since the last flush, last: %w", n, err)
	}
	return nil
}

// Published returns how many messages were handed to nats.go successfully.
func (p *Publisher) Published() uint64 { return p.published.Load() }

// Dropped returns how many messages were dropped because the connection was
// down.
func (p *Publisher) Dropped() uint64 { return p.dropped.Load() }

// Errors returns how many messages failed to publish for other reasons.
func (p *Publisher) Errors() uint64 { return p.errors.Load() }

// AckFailures returns how many published messages the stream did not
// acknowledge as stored: refused, no stream for the subject, or no ack
// before the connection was lost. 0 without acks.
func (p *Publisher) AckFailures() uint64 {
	if a := p.shown.Load(); a != nil {
		return a.failures.Load()
	}
	return 0
}

// acksPending returns how many messages await their ack.
func (p *Publisher) acksPending() int64 {
	if a := p.shown.Load(); a != nil {
		return a.pending()
	}
	return 0
}

// Epoch returns the epoch heartbeats carry.
func (p *Publisher) Epoch() string { return p.epoch }

// ackFailed logs why acks failed, at most once a second.
func (p *Publisher) ackFailed(reason string, ack []byte) {
	p.warn.Do(func() {
		p.log.Warn(reason+" (warnings limited to 1/s)", "ack", string(ack), "ack_failures", p.AckFailures())
	})
}
