package ssetest

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestParse reads a stream written by hand in the forms the HTML
// standard allows: CRLF and LF lines, comments, a field with no space
// after its colon, an event without an id (the last one stands), an
// empty id (clears it), blank lines with nothing to dispatch, and a close
// event.
func TestParse(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Last-Event-Id") != "@e,AAPL:1" {
			http.Error(w, "no Last-Event-ID", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, ": hello\n\nid: @e,AAPL:2\r\ndata: {\"type\":\"tick\",\"sym\":\"AAPL\",\"seq\":2}\r\ndata:{\"type\":\"tick\",\"sym\":\"AAPL\",\"seq\":3}\r\n\r\n"+
			"data: {\"type\":\"notice\",\"code\":\"live\"}\n\n"+
			"id:\ndata: {\"type\":\"tick\",\"sym\":\"MSFT\",\"seq\":1}\n\n"+
			"event: close\ndata: {\"type\":\"close\",\"code\":1001,\"reason\":\"server shutting down\"}\n\n")
	}))
	defer hs.Close()
	if r := Refuse(t, hs.URL, Options{}); r.Status != 400 || r.Body != "no Last-Event-ID\n" {
		t.Fatalf("refusal %+v", r)
	}
	c := Dial(t, hs.URL, Options{Header: http.Header{"Last-Event-Id": {"@e,AAPL:1"}}})
	for _, want := range []struct {
		sym string
		seq uint64
		id  string
	}{{"AAPL", 2, "@e,AAPL:2"}, {"AAPL", 3, "@e,AAPL:2"}, {"", 0, "@e,AAPL:2"}, {"MSFT", 1, ""}} {
		m := c.Next()
		if m.Sym != want.sym || m.Seq != want.seq || c.EventID != want.id {
			t.Fatalf("got %s in an event with id %q, want %s %d with id %q", m.Raw, c.EventID, want.sym, want.seq, want.id)
		}
	}
	var cl *Closed
	if err := c.ReadUntilClose(ReadTimeout); !errors.As(err, &cl) || cl.Code != 1001 {
		t.Fatalf("end: %v, want the close event", err)
	}
	if _, err := c.NextEvent(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the close event: %v, want EOF", err)
	}
	if c.Heartbeats != 1 || c.Events != 4 {
		t.Fatalf("%d comments and %d events, want 1 and 4", c.Heartbeats, c.Events)
	}
}
