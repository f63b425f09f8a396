package depthtest

import (
	"context"
	"errors"

	"github.com/tickgate/tickgate/feed"
)

// Source is a feed.Source that publishes what a test sends it: ticks,
// books and status, in the order sent, from Run's goroutine, as a real
// feed does. Send blocks until Run takes the message.
type Source struct {
	Syms []string
	in   chan any
}

// NewSource returns a Source of syms.
func NewSource(syms ...string) *Source { return &Source{Syms: syms, in: make(chan any)} }

// Symbols implements feed.Source.
func (s *Source) Symbols() []string { return s.Syms }

// Run implements feed.Source: it hands each message sent to sink, books
// and status only if sink is a feed.DepthSink, until ctx is done.
func (s *Source) Run(ctx context.Context, sink feed.Sink) error {
	depth, _ := sink.(feed.DepthSink)
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-s.in:
			switch m := m.(type) {
			case feed.Tick:
				sink.Publish(m)
			case feed.Book:
				if depth != nil {
					depth.PublishBook(m)
				}
			case feed.Status:
				if depth != nil {
					depth.PublishStatus(m)
				}
			}
		}
	}
}

// Send hands m (a feed.Tick, feed.Book or feed.Status) to Run.
func (s *Source) Send(ctx context.Context, m any) error {
	switch m.(type) {
	case feed.Tick, feed.Book, feed.Status:
	default:
		return errors.New("depthtest: send a feed.Tick, feed.Book or feed.Status")
	}
	select {
	case s.in <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ feed.Source = (*Source)(nil)
