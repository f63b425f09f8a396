package feed

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestReasonOf checks the reason each kind of refusal is counted under.
func TestReasonOf(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		payload string
		want    Reason
	}{
		{`not json`, ReasonMalformed},
		{`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[1,5]],"asks":"x"}`, ReasonMalformed},
		{`{"type":"book_update","sym":"aapl","seq":1,"ts":1}`, ReasonSymbol},
		{`{"type":"book_update","sym":"AAPL","seq":0,"ts":1}`, ReasonField},
		{`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[-1,5]]}`, ReasonField},
		{`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,-5]]}`, ReasonNegativeSize},
		{`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,5],[2,5]]}`, ReasonLevels},
		{`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,0]]}`, ReasonLevels},
		{`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,5]],"asks":[[1.5,5]]}`, ReasonCrossed},
	} {
		_, err := DecodeBook([]byte(c.payload))
		if got := ReasonOf(err); err == nil || got != c.want || !errors.Is(err, ErrBadBook) {
			t.Errorf("DecodeBook(%s) = %v, reason %v; want ErrBadBook for %v", c.payload, err, got, c.want)
		}
	}
	for _, c := range []struct {
		payload string
		want    Reason
	}{
		{`{"type":"status","sym":"AAPL","seq":1,"status":"paused","ts":1}`, ReasonUnknownStatus},
		{`{"type":"status","sym":"AAPL","seq":1,"status":"halted","reason":"a b","ts":1}`, ReasonField},
		{`{"type":"status","sym":"AAPL","seq":1,"status":1,"ts":1}`, ReasonMalformed},
	} {
		_, err := DecodeStatus([]byte(c.payload))
		if got := ReasonOf(err); err == nil || got != c.want || !errors.Is(err, ErrBadStatus) {
			t.Errorf("DecodeStatus(%s) = %v, reason %v; want ErrBadStatus for %v", c.payload, err, got, c.want)
		}
	}
	if _, err := DecodeJSON([]byte(`{"sym":"AAPL","seq":1,"px":1,"sz":-1,"bid":1,"ask":1,"ts":1}`)); ReasonOf(err) != ReasonNegativeSize {
		t.Errorf("a tick of size -1: %v, want reason negative_size", err)
	}
	if err := RefuseSymbol(ErrBadTick, "%q not in the universe", "ZZZ"); ReasonOf(err) != ReasonSymbol || !errors.Is(err, ErrBadTick) {
		t.Errorf("RefuseSymbol = %v", err)
	}
}

// TestRefusals counts every refusal and logs one per symbol, kind and
// reason.
func TestRefusals(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	var log bytes.Buffer
	r, err := NewRefusals(reg, "test", slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, negative := DecodeBook([]byte(`{"type":"book_update","sym":"AAPL","seq":1,"ts":1,"bids":[[1,-5]]}`))
	_, crossed := DecodeBook([]byte(`{"type":"book","sym":"AAPL","seq":1,"ts":1,"bids":[[2,5]],"asks":[[1.5,5]]}`))
	for range 3 {
		r.Refuse("AAPL", KindBook, negative)
		r.Refuse("MSFT", KindBook, negative)
		r.Refuse("AAPL", KindBook, crossed, "line", 7)
		r.Refuse("AAPL", KindTick, errors.New("not json"))
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
		if got := seriesValue(t, reg, c.kind, c.reason); got != c.want {
			t.Errorf("%s{kind=%s,reason=%s} = %v, want %v", DecodeErrorsMetric, c.kind, c.reason, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, DecodeErrorsMetric); n != int(numKinds)*int(numReasons) {
		t.Errorf("%d series, want every kind and reason at 0 from the start (%d)", n, int(numKinds)*int(numReasons))
	}
	if _, err := NewRefusals(reg, "test", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a second registration of one source succeeded")
	}
}

// seriesValue returns the value of the series of kind and reason in reg.
func seriesValue(t *testing.T, reg *prometheus.Registry, kind, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["reason"] == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no series kind=%s reason=%s", kind, reason)
	return 0
}
