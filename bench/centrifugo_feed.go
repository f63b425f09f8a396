package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/tickgate/tickgate/feed"
)

const (
	cfInbox     = 4096 // ticks waiting for the sender before the feed itself waits
	cfBatchMax  = 1000 // publish commands per HTTP batch
	cfAPITimout = 10 * time.Second
)

// centrifugoSink publishes ticks through Centrifugo's HTTP batch API
// (POST /api/batch), each tick as the data of a publish to the channel
// named by its symbol. It batches by drain-then-flush: one blocking
// receive, then whatever else is ready, up to cfBatchMax, in one request.
// When Centrifugo is slower than the feed the inbox fills and the feed
// waits, which the run reports as the feed held back.
type centrifugoSink struct {
	url   string
	hc    *http.Client
	inbox chan feed.Tick
	done  chan struct{}

	sent, failed atomic.Uint64
	lastErr      atomic.Value // string
}

// startCentrifugoFeed returns a harnessFeed publishing into the Centrifugo
// at port.
func startCentrifugoFeed(port int) *harnessFeed {
	s := &centrifugoSink{
		url:   fmt.Sprintf("http://127.0.0.1:%d/api/batch", port),
		hc:    &http.Client{Timeout: cfAPITimout, Transport: &http.Transport{Proxy: nil}},
		inbox: make(chan feed.Tick, cfInbox),
		done:  make(chan struct{}),
	}
	go s.loop()
	return &harnessFeed{sink: s, counted: s.sent.Load}
}

// Publish hands t to the sender, waiting while the inbox is full.
func (s *centrifugoSink) Publish(t feed.Tick) { s.inbox <- t }

// List does nothing: Centrifugo channels need no listing.
func (s *centrifugoSink) List(feed.Listing) {}

// Close stops the sender after it has sent what is queued.
func (s *centrifugoSink) Close() error {
	close(s.inbox)
	<-s.done
	if n := s.failed.Load(); n > 0 {
		return fmt.Errorf("centrifugo feed: %d publishes failed, last: %v", n, s.lastErr.Load())
	}
	return nil
}

func (s *centrifugoSink) loop() {
	defer close(s.done)
	var body, tick []byte
	for t := range s.inbox {
		body = append(body[:0], `{"commands":[`...)
		n := 0
		for {
			if n > 0 {
				body = append(body, ',')
			}
			tick = t.AppendJSON(tick[:0])
			body = append(body, `{"publish":{"channel":"`...)
			body = append(body, t.Symbol...)
			body = append(body, `","data":`...)
			body = append(body, tick...)
			body = append(body, `}}`...)
			n++
			var ok bool
			if n == cfBatchMax {
				break
			}
			select {
			case t, ok = <-s.inbox:
			default:
			}
			if !ok {
				break
			}
		}
		body = append(body, `]}`...)
		s.post(body, n)
	}
}

// post sends one batch and counts its publishes as sent or failed.
func (s *centrifugoSink) post(body []byte, n int) {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", centrifugoAPIKey)
	resp, err := s.hc.Do(req)
	if err != nil {
		s.fail(n, err.Error())
		return
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.fail(n, fmt.Sprintf("%s: %.200s", resp.Status, reply))
		return
	}
	bad := bytes.Count(reply, []byte(`"error"`))
	if bad > 0 {
		s.fail(bad, fmt.Sprintf("%.200s", reply))
	}
	s.sent.Add(uint64(n - bad))
}

func (s *centrifugoSink) fail(n int, why string) {
	s.failed.Add(uint64(n))
	s.lastErr.Store(why)
}
