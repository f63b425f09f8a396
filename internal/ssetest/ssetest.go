package ssetest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/wstest"
)

// ReadTimeout bounds each read of an event; past it the read fails.
const ReadTimeout = 10 * time.Second

// Event is one dispatched event, as EventSource hands it to a page.
type Event struct {
	Type string // "message" unless an event field named another
	Data string // its data lines, joined by '\n'
	// ID is the last event ID once the event is dispatched: its id field,
	// or, without one, the one before (what a reconnect sends back).
	ID    string
	HasID bool // the event had an id field
}

// Options tune a stream's request and socket.
type Options struct {
	// Header is sent with the request (Last-Event-ID, Authorization).
	Header http.Header
	// RecvBuf, if positive, is the socket's receive buffer, set before
	// the connection is made so the TCP window stays small: a client on a
	// slow link backs up into the server's queue quickly.
	RecvBuf int
	// Dial, if set, makes the connection instead of a net.Dialer (one
	// across a shaped link, say); RecvBuf is then not applied.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Client reads one event stream. Its messages come, one at a time, from
// Next and Read (the gateway's welcome, the first, is kept in Welcome,
// and epoch notices are passed over, as wstest does); NextEvent reads
// whole events.
type Client struct {
	TB   testing.TB
	Resp *http.Response
	// Welcome is the gateway's welcome, once read.
	Welcome *wstest.Msg
	// LastID is the last event ID as EventSource keeps it: what
	// Last-Event-ID would say on a reconnect now.
	LastID string
	// EventID is the ID of the event the message read last came from.
	EventID string
	// Events and Heartbeats count the events and the comments read.
	Events, Heartbeats int
	// Delay, in nanoseconds, makes the client pause after each event it
	// reads: a client on a slow link. Set it from any goroutine.
	Delay atomic.Int64

	conn    net.Conn
	br      *bufio.Reader
	pending []wstest.Msg
	started bool
}

// Open GETs url as an event stream. With a 200 text/event-stream answer
// it returns a Client, closed when the test ends; with any other it
// returns the response, its body read into the error.
func Open(tb testing.TB, url string, o Options) (*Client, error) {
	tb.Helper()
	c := &Client{TB: tb}
	dial := (&net.Dialer{Timeout: 5 * time.Second, Control: recvBuf(o.RecvBuf)}).DialContext
	if o.Dial != nil {
		dial = o.Dial
	}
	tr := &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: ReadTimeout, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		c.conn = conn
		return conn, err
	}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, vs := range o.Header {
		req.Header[k] = vs
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, err
	}
	if typ, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || typ != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return nil, &Refusal{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: string(body)}
	}
	c.Resp, c.br = resp, bufio.NewReader(resp.Body)
	tb.Cleanup(func() { c.Close(); tr.CloseIdleConnections() })
	return c, nil
}

// Refusal is a request answered with anything but a stream.
type Refusal struct {
	Status      int
	ContentType string
	Body        string
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("HTTP %d (%s): %s", r.Status, r.ContentType, r.Body)
}

// Dial is Open that fails tb unless the stream starts.
func Dial(tb testing.TB, url string, o Options) *Client {
	tb.Helper()
	c, err := Open(tb, url, o)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	return c
}

// Refuse is Open that fails tb unless the request is refused, and
// returns the refusal.
func Refuse(tb testing.TB, url string, o Options) *Refusal {
	tb.Helper()
	_, err := Open(tb, url, o)
	var r *Refusal
	if !errors.As(err, &r) {
		tb.Fatalf("GET %s: %v, want a refusal", url, err)
	}
	return r
}

// Close cuts the connection, as a network failure would.
func (c *Client) Close() {
	if c.conn != nil {
		c.conn.Close()
	}
	c.Resp.Body.Close()
}

// NextEvent reads the next event, counting comments on the way, within
// ReadTimeout.
func (c *Client) NextEvent() (Event, error) {
	c.conn.SetReadDeadline(time.Now().Add(ReadTimeout))
	ev := Event{Type: "message"}
	var data strings.Builder
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return Event{}, fmt.Errorf("read: %w", err)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if data.Len() == 0 { // nothing to dispatch
				ev = Event{Type: "message"}
				continue
			}
			ev.Data, ev.ID = strings.TrimSuffix(data.String(), "\n"), c.LastID
			c.Events++
			if d := c.Delay.Load(); d > 0 {
				time.Sleep(time.Duration(d))
			}
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			c.Heartbeats++
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.ContainsRune(value, 0) {
				c.LastID, ev.HasID = value, true
			}
		}
	}
}

// Messages decodes an event's data, one message a line.
func Messages(ev Event) ([]wstest.Msg, error) {
	var out []wstest.Msg
	for line := range strings.SplitSeq(ev.Data, "\n") {
		m, err := wstest.Decode([]byte(line))
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// Next returns the next message and fails the test if there is none
// within ReadTimeout.
func (c *Client) Next() wstest.Msg {
	c.TB.Helper()
	m, err := c.Read()
	if err != nil {
		c.TB.Fatal(err)
	}
	return m
}

// Read returns the next message of a "message" event, past the welcome
// and epoch notices. A close event ends the stream: Read returns it as a
// *Closed error.
func (c *Client) Read() (wstest.Msg, error) {
	for {
		if len(c.pending) == 0 {
			ev, err := c.NextEvent()
			if err != nil {
				return wstest.Msg{}, err
			}
			if ev.Type == "close" {
				return wstest.Msg{}, closed(ev)
			}
			if c.pending, err = Messages(ev); err != nil {
				return wstest.Msg{}, err
			}
			c.EventID = ev.ID
		}
		m := c.pending[0]
		c.pending = c.pending[1:]
		switch {
		case !c.started && wstest.IsWelcome(m):
			c.started, c.Welcome = true, &m
		case m.Type == "notice" && m.Code == "epoch":
		default:
			c.started = true
			return m, nil
		}
	}
}

// recvBuf is a dialer Control that sets SO_RCVBUF to n, if n > 0.
func recvBuf(n int) func(string, string, syscall.RawConn) error {
	if n <= 0 {
		return nil
	}
	return func(_, _ string, rc syscall.RawConn) error {
		var err error
		rc.Control(func(fd uintptr) {
			err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		})
		return err
	}
}

// Closed is a stream's close event: the close code and reason a
// WebSocket's close frame would carry.
type Closed struct {
	Type   string `json:"type"` // "close"
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

func (c *Closed) Error() string { return fmt.Sprintf("close event %d %q", c.Code, c.Reason) }

// closed decodes a close event; one that does not decode is an error of
// its own.
func closed(ev Event) error {
	var c Closed
	if err := json.Unmarshal([]byte(ev.Data), &c); err != nil || c.Type != "close" {
		return fmt.Errorf("close event %q: want {\"type\":\"close\",\"code\":..,\"reason\":..}", ev.Data)
	}
	return &c
}

// ReadUntilClose reads, discarding messages, until the stream ends, for at
// most timeout, and returns why: a *Closed for a close event, or the read
// error (io.EOF: the connection ended with no close event).
func (c *Client) ReadUntilClose(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := c.Read(); err != nil {
			return err
		}
	}
	return fmt.Errorf("stream still open after %v", timeout)
}

// WriteRaw writes b on the stream's connection: a client that breaks the
// stream's one-way rule.
func (c *Client) WriteRaw(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// Rest returns the messages of the event read last that Read has not
// returned yet, and drops them: with them, a test has read all that the
// event's id covers.
func (c *Client) Rest() []wstest.Msg {
	rest := c.pending
	c.pending = nil
	return rest
}
