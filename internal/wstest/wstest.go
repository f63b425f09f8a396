package wstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/feed"
)

// ReadTimeout bounds each read of a frame; past it the read fails and
// coder/websocket closes the connection.
const ReadTimeout = 10 * time.Second

// Transport keeps no idle connections, so no persistConn goroutine
// outlives a refused upgrade and goleak stays quiet. Upgrades still work:
// net/http sends no "Connection: close" on protocol-switch requests.
var Transport = &http.Transport{DisableKeepAlives: true}

// Msg is any server message, a reply, a tick or a bar, decoded loosely.
// Raw is the message's own bytes.
type Msg struct {
	Type    string   `json:"type"`
	ID      *int64   `json:"id"`
	Symbols []string `json:"symbols"`
	Code    string   `json:"code"`
	Msg     string   `json:"msg"`
	Sym     string   `json:"sym"`
	Seq     uint64   `json:"seq"`
	TS      int64    `json:"ts"`
	N       uint64   `json:"n"`

	MaxRate float64 `json:"max_rate"`
	// The welcome: the history budget and each stream's max history.
	HistoryBudget int            `json:"history_budget"`
	History       map[string]int `json:"history"`

	Recovered []string `json:"recovered"` // nil when absent, [] when empty
	Snapshot  []string `json:"snapshot"`
	// Epochs: subscribed names each added symbol's epoch; a reset notice
	// names the new one in Epoch.
	Epochs map[string]string `json:"epochs"`
	Epoch  string            `json:"epoch"`

	// Streams: replies name their stream, list has every stream's symbols.
	Stream  string              `json:"stream"`
	Streams map[string][]string `json:"streams"`
	// Bars (N above is a bar's trade count).
	T          int64   `json:"t"`
	O, H, L, C float64 // "o", "h", "l", "c"
	V          int64   `json:"v"`
	Partial    bool    `json:"partial"`
	Span       uint64  `json:"span"`
	Delayed    bool    `json:"delayed"`
	// Synthetic: a tick or bar of the simulator's made-up past.
	Synthetic bool `json:"synthetic"`
	// Books: the checksum and the levels; gap notices' range.
	Checksum   uint32       `json:"checksum"`
	Bids, Asks []feed.Level // "bids", "asks"
	From       uint64       `json:"from"`
	To         uint64       `json:"to"`
	// Status: the state and its reason.
	Status string `json:"status"`
	Reason string `json:"reason"`

	Raw []byte `json:"-"`
}

// Client reads the server's messages one at a time out of frames of
// '\n'-separated messages. By default the test's goroutine reads the
// socket as it asks for messages; after ReadAhead a goroutine of the
// Client's reads frames as they arrive, and the test takes the messages
// from a queue. Either way every message comes through one read path
// (nextMsg), the place for any rule about which messages a test sees.
// The gateway's welcome, the first message of every connection, is kept in
// Welcome and not returned by Next or Read, so a test reads the replies and
// ticks it is about; a frame that held only the welcome is not counted in
// Frames.
type Client struct {
	TB      testing.TB
	Conn    *websocket.Conn
	Frames  int // frames read so far; while reading ahead, the reader's own
	pending [][]byte
	// Welcome is the welcome, once read (while reading ahead, valid once a
	// message has been received); nil before, or from a server that sends
	// none.
	Welcome *Msg
	started bool // the first message has been read

	// FrameDelay, in nanoseconds, makes the read-ahead goroutine pause
	// after each frame it reads: a client on a slow link. It may be
	// changed while the goroutine runs.
	FrameDelay atomic.Int64

	ahead    chan Msg      // nil until ReadAhead; closed when the reader ends
	aheadErr error         // why the reader ended; valid once ahead is closed
	stop     chan struct{} // closed when the test ends: the reader stops
}

// AheadQueue is how many messages a read-ahead Client holds for the test.
const AheadQueue = 4096

// DialRaw opens a WebSocket to url with header (may be nil) through
// Transport. The response is returned on failure too: it carries a
// refusal's status code.
func DialRaw(ctx context.Context, url string, header http.Header) (*websocket.Conn, *http.Response, error) {
	return websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: Transport},
		HTTPHeader: header,
	})
}

// Dial connects to url (a ws:// URL with any query) and fails tb if it
// cannot. The connection is closed when the test ends. Its read limit is
// 1 MiB, past any frame the gateway builds.
func Dial(tb testing.TB, url string) *Client {
	tb.Helper()
	return DialWith(tb, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: Transport}})
}

// DialWith is Dial with opts, for a client with its own transport (a
// small socket buffer, say).
func DialWith(tb testing.TB, url string, opts *websocket.DialOptions) *Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		tb.Fatalf("dial %s: %v", url, err)
	}
	tb.Cleanup(func() { conn.CloseNow() })
	conn.SetReadLimit(1 << 20)
	return &Client{TB: tb, Conn: conn}
}

// ReadAhead starts a goroutine that reads frames as they arrive and
// queues their messages (up to AheadQueue), so the server never waits on
// this client's socket while the test is busy elsewhere. It ends when the
// connection does or the test ends. Call it once, before any read.
func (c *Client) ReadAhead() {
	c.ahead = make(chan Msg, AheadQueue)
	c.stop = make(chan struct{})
	c.TB.Cleanup(func() { close(c.stop) })
	go func() {
		defer close(c.ahead)
		for {
			m, err := c.nextMsg(context.Background())
			if err != nil {
				c.aheadErr = err
				return
			}
			select {
			case c.ahead <- m:
			case <-c.stop:
				c.aheadErr = errors.New("wstest: test ended")
				return
			}
		}
	}()
}

// Next returns the next message, reading a frame when none is pending, and
// fails the test if there is none within ReadTimeout.
func (c *Client) Next() Msg {
	c.TB.Helper()
	m, err := c.Read()
	if err != nil {
		c.TB.Fatal(err)
	}
	return m
}

// Read is Next for goroutines other than the test's: it returns errors.
func (c *Client) Read() (Msg, error) { return c.ReadWithin(ReadTimeout) }

// ReadWithin is Read with its own bound. Without ReadAhead, a read that
// times out closes the connection (coder/websocket does).
func (c *Client) ReadWithin(timeout time.Duration) (Msg, error) {
	if c.ahead == nil {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return c.nextMsg(ctx)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case m, ok := <-c.ahead:
		if !ok {
			return Msg{}, c.aheadErr
		}
		return m, nil
	case <-t.C:
		return Msg{}, fmt.Errorf("no message within %v", timeout)
	}
}

// nextMsg is the one read path: the next message but a leading welcome
// and the epoch notices.
func (c *Client) nextMsg(ctx context.Context) (Msg, error) {
	for {
		m, err := c.nextRaw(ctx)
		if err != nil {
			return m, err
		}
		if !c.started {
			c.started = true
			if IsWelcome(m) {
				c.Welcome = &m
				if len(c.pending) == 0 {
					c.Frames-- // the welcome's frame held nothing else
				}
				continue
			}
		}
		if !c.firstEpoch(m) {
			return m, nil
		}
	}
}

// firstEpoch reports whether m is an epoch notice: the one that names a
// symbol's first epoch to a client that subscribed before its first tick.
// A test of one run's ticks reads past it, as past the welcome.
func (c *Client) firstEpoch(m Msg) bool {
	return m.Type == "notice" && m.Code == "epoch"
}

// IsWelcome reports whether m is the gateway's welcome.
func IsWelcome(m Msg) bool { return m.Type == "welcome" }

// nextRaw returns the next message of the frame read last, or of a new
// frame.
func (c *Client) nextRaw(ctx context.Context) (Msg, error) {
	if len(c.pending) == 0 {
		typ, frame, err := c.Conn.Read(ctx)
		if err != nil {
			return Msg{}, fmt.Errorf("read: %w", err)
		}
		if typ != websocket.MessageText {
			return Msg{}, fmt.Errorf("frame of type %v, want text", typ)
		}
		c.Frames++
		c.pending = bytes.Split(frame, []byte("\n"))
		if d := c.FrameDelay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
	}
	raw := c.pending[0]
	c.pending = c.pending[1:]
	return Decode(raw)
}

// Decode decodes one server message.
func Decode(raw []byte) (Msg, error) {
	var m Msg
	if err := json.Unmarshal(raw, &m); err != nil {
		return Msg{}, fmt.Errorf("message %q: %w", raw, err)
	}
	m.Raw = raw
	return m, nil
}

// Send writes one request as a text frame.
func (c *Client) Send(req string) {
	c.TB.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Conn.Write(ctx, websocket.MessageText, []byte(req)); err != nil {
		c.TB.Fatalf("write %s: %v", req, err)
	}
}

// ReadUntilError reads, discarding what comes, until the connection
// fails, for at most timeout, and returns the error: websocket.CloseStatus
// tells the close code the server sent.
func (c *Client) ReadUntilError(timeout time.Duration) error {
	if c.ahead != nil {
		return c.drainAhead(timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c.pending = nil
	for {
		if _, _, err := c.Conn.Read(ctx); err != nil {
			return err
		}
	}
}

// drainAhead is ReadUntilError while reading ahead: the reader's error
// once it ends.
func (c *Client) drainAhead(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case _, ok := <-c.ahead:
			if !ok {
				return c.aheadErr
			}
		case <-t.C:
			return fmt.Errorf("connection still open after %v", timeout)
		}
	}
}
