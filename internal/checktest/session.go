package checktest

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/wstest"
)

// topic is a (stream, symbol) as a client follows it; the stream of
// ticks is "ticks".
type topic struct{ stream, sym string }

// wire is the fields of a server message that wstest.Msg leaves out, or
// that mean something else on a bar.
type wire struct {
	Epochs map[string]string `json:"epochs"` // subscribed
	Epoch  string            `json:"epoch"`  // the reset notice
	From   uint64            `json:"from"`   // the gap notice
	To     uint64            `json:"to"`
	Prev   *uint64           `json:"prev"` // a bar: the previous bar's seq
	N      int64             `json:"n"`    // a bar's trade count
}

// event is one thing that happened to a Session, in order.
type event struct {
	at   time.Time
	conn int // 1 for the session's first connection, and so on
	sent *request
	msg  *wstest.Msg
	w    wire
}

// request is a subscribe the Session sent: what it asked for, and the
// seq per symbol of its since, if any.
type request struct {
	id     int64
	stream string
	syms   []string
	since  map[string]uint64
}

// Session is one client across the connections it makes: it follows the
// seqs and epochs it is told as a client library would, builds since from
// them, and records every message with the time it came.
type Session struct {
	tb   testing.TB
	name string

	mu     sync.Mutex // guards what follows, written by the reader
	events []event
	conn   int
	nextID int64
	seq    map[topic]uint64
	epoch  map[topic]string
	count  map[topic]int
	notice map[string]int

	c    *wstest.Client
	done chan struct{} // closed when the reader of c ends
}

// NewSession returns a Session named name (in problems it reports), with
// no connection yet. Its connection is closed when the test ends.
func NewSession(tb testing.TB, name string) *Session {
	s := &Session{tb: tb, name: name, seq: map[topic]uint64{}, epoch: map[topic]string{}, count: map[topic]int{}, notice: map[string]int{}}
	tb.Cleanup(s.Close)
	return s
}

// Connect closes the session's connection, if any, and dials url (a ws://
// URL with any query, "?symbols=AAPL" say), reading it on a goroutine.
func (s *Session) Connect(url string) {
	s.tb.Helper()
	s.Close()
	c := wstest.Dial(s.tb, url)
	s.mu.Lock()
	s.conn++
	s.c, s.done = c, make(chan struct{})
	conn, done := s.conn, s.done
	s.mu.Unlock()
	go s.read(c, conn, done)
}

// read records c's messages until its connection ends.
func (s *Session) read(c *wstest.Client, conn int, done chan struct{}) {
	defer close(done)
	for {
		m, err := c.ReadWithin(time.Minute)
		if err != nil {
			return
		}
		s.record(time.Now(), conn, m)
	}
}

// Close closes the session's connection and waits for its reader.
func (s *Session) Close() {
	s.mu.Lock()
	c, done := s.c, s.done
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		c.Conn.CloseNow()
		<-done
	}
}

// record appends m, come at at on connection conn, and follows what it
// tells a client.
func (s *Session) record(at time.Time, conn int, m wstest.Msg) {
	var w wire
	_ = json.Unmarshal(m.Raw, &w)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, event{at: at, conn: conn, msg: &m, w: w})
	tp := topic{streamOf(m), m.Sym}
	switch {
	case m.Type == "subscribed":
		for sym, e := range w.Epochs {
			s.epoch[topic{tp.stream, sym}] = e
		}
	case m.Type == "notice":
		s.notice[m.Code]++
		if m.Code == "reset" {
			s.epoch[tp] = w.Epoch
		}
	case m.Type == "tick", m.Type == "bar" && !m.Partial:
		s.seq[tp] = m.Seq
		s.count[tp]++
	}
}

// streamOf is the stream a message is about: its "stream", or "ticks".
func streamOf(m wstest.Msg) string {
	if m.Stream == "" {
		return "ticks"
	}
	return m.Stream
}

// Subscribe sends a subscribe to stream ("ticks", "bars.1s", ...) for
// syms, with since, when asked, from the seqs and epochs the session
// holds: {"seq":S,"epoch":"E"}, or the legacy S when it was told no epoch.
func (s *Session) Subscribe(stream string, syms []string, since bool) {
	s.tb.Helper()
	msg, c := s.request(stream, syms, since)
	c.Send(msg)
}

// request records a subscribe and returns it, and the connection to send
// it on.
func (s *Session) request(stream string, syms []string, since bool) (string, *wstest.Client) {
	s.mu.Lock()
	s.nextID++
	req := &request{id: s.nextID, stream: stream, syms: syms, since: map[string]uint64{}}
	var pos []string
	for _, sym := range syms {
		tp := topic{stream, sym}
		if seq, ok := s.seq[tp]; since && ok {
			req.since[sym] = seq
			if e := s.epoch[tp]; e != "" {
				pos = append(pos, fmt.Sprintf(`%q:{"seq":%d,"epoch":%q}`, sym, seq, e))
			} else {
				pos = append(pos, fmt.Sprintf(`%q:%d`, sym, seq))
			}
		}
	}
	s.events = append(s.events, event{at: time.Now(), conn: s.conn, sent: req})
	c := s.c
	s.mu.Unlock()
	names, _ := json.Marshal(syms)
	msg := fmt.Sprintf(`{"op":"subscribe","id":%d,"stream":%q,"symbols":%s`, req.id, stream, names)
	if len(pos) > 0 {
		msg += `,"since":{` + strings.Join(pos, ",") + `}`
	}
	return msg + "}", c
}

// Count returns how many ticks (stream "ticks") or final bars of sym the
// session has had, over all its connections.
func (s *Session) Count(stream, sym string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count[topic{stream, sym}]
}

// Seq returns the seq of the newest tick or final bar of sym the session had.
func (s *Session) Seq(stream, sym string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq[topic{stream, sym}]
}

// Notices returns how many notices of code the session has had.
func (s *Session) Notices(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notice[code]
}

// snapshot returns the session's events so far or, with a non-zero
// before, those up to the first recorded at or after it.
func (s *Session) snapshot(before time.Time) []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := s.events
	if i := slices.IndexFunc(events, func(e event) bool { return !e.at.Before(before) }); !before.IsZero() && i >= 0 {
		events = events[:i]
	}
	return slices.Clone(events)
}
