package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickgate/tickgate/feed"
)

// sendBuffer is each client's channel capacity in messages.
const sendBuffer = 256

// wireTick is the tick as clients see it; field order matches tickgate's.
type wireTick struct {
	Type string  `json:"type"`
	Sym  string  `json:"sym"`
	Seq  uint64  `json:"seq"`
	Px   float64 `json:"px"`
	Sz   int64   `json:"sz"`
	Bid  float64 `json:"bid"`
	Ask  float64 `json:"ask"`
	TS   int64   `json:"ts"`
}

// outMsg is one message queued for a client's writer.
type outMsg struct {
	b    []byte
	tick bool // counted in messages_sent when written
}

// client is one connection. syms is owned by the hub goroutine; dropped is
// written by the hub before it closes send, so the writer may read it after.
type client struct {
	conn    *websocket.Conn
	send    chan outMsg
	syms    map[string]bool
	dropped bool
}

type subRequest struct {
	c    *client
	id   *int64
	syms []string
}

// hub is the single goroutine that owns every client.
type hub struct {
	known      map[string]bool
	ticks      chan feed.Tick
	register   chan *client
	unregister chan *client
	subscribe  chan subRequest
	done       chan struct{} // closed when run returns, so no handler waits on a hub that is gone
	sent, slow prometheus.Counter
}

func newHub(symbols []string, reg prometheus.Registerer) *hub {
	h := &hub{
		known:      map[string]bool{},
		ticks:      make(chan feed.Tick, 4096),
		register:   make(chan *client),
		unregister: make(chan *client),
		subscribe:  make(chan subRequest),
		done:       make(chan struct{}),
		sent:       prometheus.NewCounter(prometheus.CounterOpts{Name: "tickgate_messages_sent_total", Help: "Ticks written to clients."}),
		slow:       prometheus.NewCounter(prometheus.CounterOpts{Name: "tickgate_slow_consumers_total", Help: "Clients dropped because their channel was full."}),
	}
	for _, s := range symbols {
		h.known[s] = true
	}
	reg.MustRegister(h.sent, h.slow)
	return h
}

// Publish is the feed's sink: it blocks while the hub is behind.
func (h *hub) Publish(t feed.Tick) { call(h, h.ticks, t) }

// List does nothing: the hub carries the symbols it was started with.
func (h *hub) List(feed.Listing) {}

// run is the hub loop. When ctx ends it closes every client's channel, so
// the writers end their connections.
func (h *hub) run(ctx context.Context) {
	clients := map[*client]bool{}
	defer close(h.done)
	for {
		select {
		case <-ctx.Done():
			for c := range clients {
				close(c.send)
			}
			return
		case c := <-h.register:
			clients[c] = true
		case c := <-h.unregister:
			if clients[c] {
				delete(clients, c)
				close(c.send)
			}
		case r := <-h.subscribe:
			if clients[r.c] {
				h.doSubscribe(clients, r)
			}
		case t := <-h.ticks:
			h.broadcast(clients, t)
		}
	}
}

// broadcast marshals the tick for every subscribed client, the tutorial way.
func (h *hub) broadcast(clients map[*client]bool, t feed.Tick) {
	for c := range clients {
		if !c.syms[t.Symbol] {
			continue
		}
		b, _ := json.Marshal(wireTick{"tick", t.Symbol, t.Seq, t.Price, t.Size, t.Bid, t.Ask, t.TS})
		h.trySend(clients, c, outMsg{b: b, tick: true})
	}
}

// trySend queues m without blocking, dropping the client if its channel is full.
func (h *hub) trySend(clients map[*client]bool, c *client, m outMsg) {
	select {
	case c.send <- m:
	default:
		c.dropped = true
		delete(clients, c)
		close(c.send)
		h.slow.Inc()
	}
}

func (h *hub) doSubscribe(clients map[*client]bool, r subRequest) {
	for _, s := range r.syms {
		r.c.syms[s] = true
	}
	b, _ := json.Marshal(struct {
		Type    string   `json:"type"`
		ID      *int64   `json:"id,omitempty"`
		Symbols []string `json:"symbols"`
	}{"subscribed", r.id, r.syms})
	h.trySend(clients, r.c, outMsg{b: b})
}

// serveWS upgrades, registers the client, subscribes ?symbols= and runs
// its reader; the writer runs in its own goroutine.
func (h *hub) serveWS(w http.ResponseWriter, r *http.Request) {
	var initial []string
	if v := r.URL.Query().Get("symbols"); v != "" {
		initial = strings.Split(v, ",")
		if !h.allKnown(initial) {
			http.Error(w, "unknown symbol", http.StatusBadRequest)
			return
		}
	}
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c := &client{conn: conn, send: make(chan outMsg, sendBuffer), syms: map[string]bool{}}
	if !call(h, h.register, c) {
		conn.CloseNow()
		return
	}
	go h.writer(c)
	if len(initial) > 0 {
		call(h, h.subscribe, subRequest{c: c, syms: initial})
	}
	h.reader(r.Context(), c)
	call(h, h.unregister, c)
}

// call hands v to the hub unless it has stopped.
func call[T any](h *hub, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-h.done:
		return false
	}
}

func (h *hub) allKnown(syms []string) bool {
	return !slices.ContainsFunc(syms, func(s string) bool { return !h.known[s] })
}

// reader handles {"op":"subscribe","id":1,"symbols":[...]}; other ops are
// ignored, as a tutorial would.
func (h *hub) reader(ctx context.Context, c *client) {
	for {
		_, b, err := c.conn.Read(ctx)
		if err != nil {
			return
		}
		var op struct {
			Op      string   `json:"op"`
			ID      *int64   `json:"id"`
			Symbols []string `json:"symbols"`
		}
		if json.Unmarshal(b, &op) == nil && op.Op == "subscribe" && h.allKnown(op.Symbols) {
			call(h, h.subscribe, subRequest{c: c, id: op.ID, syms: op.Symbols})
		}
	}
}

// writer writes one frame per message until the hub closes send.
func (h *hub) writer(c *client) {
	for m := range c.send {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.conn.Write(ctx, websocket.MessageText, m.b)
		cancel()
		if err != nil {
			c.conn.CloseNow()
			return
		}
		if m.tick {
			h.sent.Inc()
		}
	}
	if c.dropped {
		c.conn.Close(4001, "slow consumer")
		return
	}
	c.conn.CloseNow() // unregistered, or the hub stopped
}
