package feed_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/ticktest"
)

// TestReasonOf checks the reason each kind of refusal is counted under.
func TestReasonOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		payload string
		want    feed.Reason
	}{
		{`not json`, feed.ReasonMalformed},
		{`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[1,5]],"asks":"x"}`, feed.ReasonMalformed},
		{`{"type":"book_update","sym":"aapl","seq":1,"ts":1}`, feed.ReasonSymbol},
		{`{"type":"book_update","sym":"AAPL","seq":0,"ts":1}`, feed.ReasonField},
		{`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[-1,5]]}`, feed.ReasonField},
		{`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,-5]]}`, feed.ReasonNegativeSize},
		{`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,5],[2,5]]}`, feed.ReasonLevels},
		{`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,0]]}`, feed.ReasonLevels},
		{`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,5]],"asks":[[1.5,5]]}`, feed.ReasonCrossed},
	} {
		_, err := feed.DecodeBook([]byte(c.payload))
		if got := feed.ReasonOf(err); err == nil || got != c.want || !errors.Is(err, feed.ErrBadBook) {
			t.Errorf("feed.DecodeBook(%s) = %v, reason %v; want feed.ErrBadBook for %v", c.payload, err, got, c.want)
		}
	}
	for _, c := range []struct {
		payload string
		want    feed.Reason
	}{
		{`{"type":"status","sym":"AAPL","seq":1,"status":"paused","ts":1}`, feed.ReasonUnknownStatus},
		{`{"type":"status","sym":"AAPL","seq":1,"status":"halted","reason":"a b","ts":1}`, feed.ReasonField},
		{`{"type":"status","sym":"AAPL","seq":1,"status":1,"ts":1}`, feed.ReasonMalformed},
	} {
		_, err := feed.DecodeStatus([]byte(c.payload))
		if got := feed.ReasonOf(err); err == nil || got != c.want || !errors.Is(err, feed.ErrBadStatus) {
			t.Errorf("feed.DecodeStatus(%s) = %v, reason %v; want feed.ErrBadStatus for %v", c.payload, err, got, c.want)
		}
	}
	if _, err := feed.DecodeJSON([]byte(`{"sym":"AAPL","seq":1,"px":1,"sz":-1,"bid":1,"ask":1,"ts":1}`)); feed.ReasonOf(err) != feed.ReasonNegativeSize {
		t.Errorf("a tick of size -1: %v, want reason negative_size", err)
	}
	if err := feed.RefuseSymbol(feed.ErrBadTick, "%q not in the universe", "ZZZ"); feed.ReasonOf(err) != feed.ReasonSymbol || !errors.Is(err, feed.ErrBadTick) {
		t.Errorf("feed.RefuseSymbol = %v", err)
	}
}

// TestRefusals counts every refusal and logs one per symbol, kind and
// reason.
func TestRefusals(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	var log bytes.Buffer
	r, err := feed.NewRefusals(reg, "test", slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, negative := feed.DecodeBook([]byte(`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,-5]]}`))
	_, crossed := feed.DecodeBook([]byte(`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,5]],"asks":[[1.5,5]]}`))
	for range 3 {
		r.Refuse("AAPL", feed.KindBook, negative)
		r.Refuse("MSFT", feed.KindBook, negative)
		r.Refuse("AAPL", feed.KindBook, crossed, "line", 7)
		r.Refuse("AAPL", feed.KindTick, errors.New("not json"))
	}
	if n := strings.Count(log.String(), "dropped bad feed message"); n != 4 {
		t.Errorf("logged %d lines, want 4 (AAPL and MSFT negative, AAPL crossed, AAPL tick):\n%s", n, log.String())
	}
	if !strings.Contains(log.String(), "reason=crossed") || !strings.Contains(log.String(), "line=7") {
		t.Errorf("log lacks the reason or the caller's attributes:\n%s", log.String())
	}
	for _, c := range []struct {
		kind, reason string
		want         float64
	}{{"book", "negative_size", 6}, {"book", "crossed", 3}, {"tick", "malformed", 3}, {"status", "unknown_status", 0}} {
		if got := ticktest.Refused(t, reg, "test", c.kind, c.reason); got != c.want {
			t.Errorf("%s{kind=%s,reason=%s} = %v, want %v", feed.DecodeErrorsMetric, c.kind, c.reason, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, feed.DecodeErrorsMetric); n != 3*7 {
		t.Errorf("%d series, want every kind (3) and reason (7) at 0 from the start", n)
	}
	if _, err := feed.NewRefusals(reg, "test", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a second registration of one source succeeded")
	}
}
