package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/coder/websocket"
)

// Wire protocols the clients speak.
const (
	protoTickgate   = "tickgate"   // tickgate, baseline and floor: tick objects, '\n'-joined
	protoCentrifugo = "centrifugo" // Centrifugo's JSON client protocol (v2, as v6 speaks it)
)

var (
	cfPing     = []byte(`{}`) // Centrifugo's app-level ping, and the pong a client answers
	cfPush     = []byte(`{"push":`)
	cfData     = []byte(`"data":`)
	cfError    = []byte(`"error":`)
	cfConnectK = []byte(`"connect":`)
)

// centrifugoGreet sends connect, waits for its reply, then subscribes to
// one channel per symbol in one frame (commands '\n'-joined, as the JSON
// protocol allows). Subscribe replies are read, and checked, by the read
// loop.
func centrifugoGreet(ctx context.Context, conn *websocket.Conn, syms []string) error {
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"id":1,"connect":{"name":"tickgate-bench"}}`)); err != nil {
		return fmt.Errorf("centrifugo connect: %w", err)
	}
	_, reply, err := conn.Read(ctx)
	if err != nil {
		return fmt.Errorf("centrifugo connect reply: %w", err)
	}
	if !bytes.Contains(reply, cfConnectK) || bytes.Contains(reply, cfError) {
		return fmt.Errorf("centrifugo connect refused: %.200s", reply)
	}
	var b []byte
	for i, s := range syms {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, `{"id":`...)
		b = strconv.AppendInt(b, int64(i+2), 10)
		b = append(b, `,"subscribe":{"channel":"`...)
		b = append(b, s...)
		b = append(b, `"}}`...)
	}
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("centrifugo subscribe: %w", err)
	}
	return nil
}

// centrifugoLine turns one Centrifugo message into the tick object it
// carries, or nil: it answers pings, and counts error replies (a refused
// subscribe) in protoErrs whatever the phase.
//
// A publication arrives as {"push":{"channel":"AAPL","pub":{"data":{...}}}};
// the harness publishes tickgate's own tick object as data, which has no
// nested object, so it ends at the first '}'.
func (c *client) centrifugoLine(line []byte) []byte {
	if bytes.Equal(line, cfPing) {
		_ = c.conn.Write(context.Background(), websocket.MessageText, cfPing)
		return nil
	}
	if !bytes.HasPrefix(line, cfPush) {
		if bytes.Contains(line, cfError) {
			c.protoErrs++
		}
		return nil
	}
	i := bytes.Index(line, cfData)
	if i < 0 {
		return nil
	}
	data := line[i+len(cfData):]
	end := bytes.IndexByte(data, '}')
	if end < 0 {
		return nil
	}
	return data[:end+1]
}
