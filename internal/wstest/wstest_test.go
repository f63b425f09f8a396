package wstest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// echoFrames is a server that sends two frames, the first holding two
// messages, then echoes the client's next message and closes with 4001.
func echoFrames(t *testing.T) string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		ctx := context.Background()
		conn.Write(ctx, websocket.MessageText, []byte(`{"type":"subscribed","id":1,"symbols":["AAPL"]}`+"\n"+`{"type":"tick","sym":"AAPL","seq":7,"ts":5}`))
		conn.Write(ctx, websocket.MessageText, []byte(`{"type":"tick","sym":"AAPL","seq":8,"ts":6}`))
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		conn.Write(ctx, websocket.MessageText, b)
		conn.Close(4001, "slow consumer")
	}))
	t.Cleanup(hs.Close)
	return "ws" + strings.TrimPrefix(hs.URL, "http")
}

func TestClientSplitsFrames(t *testing.T) {
	c := Dial(t, echoFrames(t))
	m := c.Next()
	if m.Type != "subscribed" || m.ID == nil || *m.ID != 1 || strings.Join(m.Symbols, ",") != "AAPL" {
		t.Fatalf("first message %s decoded as %+v", m.Raw, m)
	}
	for _, seq := range []uint64{7, 8} {
		if m := c.Next(); m.Type != "tick" || m.Sym != "AAPL" || m.Seq != seq || m.TS != int64(seq-2) {
			t.Fatalf("message %s decoded as %+v, want AAPL tick seq %d", m.Raw, m, seq)
		}
	}
	if c.Frames != 2 {
		t.Errorf("Frames = %d, want 2", c.Frames)
	}
	c.Send(`{"type":"error","code":"bad_request","msg":"echo"}`)
	if m := c.Next(); m.Type != "error" || m.Code != "bad_request" || m.Msg != "echo" {
		t.Errorf("echoed %s decoded as %+v", m.Raw, m)
	}
	err := c.ReadUntilError(5 * time.Second)
	if websocket.CloseStatus(err) != 4001 {
		t.Errorf("ReadUntilError = %v, want close status 4001", err)
	}
}

func TestDecodeRejectsNonJSON(t *testing.T) {
	if _, err := Decode([]byte("not json")); err == nil {
		t.Error("Decode(not json) = nil error")
	}
}

// TestReadAhead reads the same frames through the read-ahead queue: the
// messages come in order and the close code still reaches the test.
func TestReadAhead(t *testing.T) {
	c := Dial(t, echoFrames(t))
	c.ReadAhead()
	for _, typ := range []string{"subscribed", "tick", "tick"} {
		if m := c.Next(); m.Type != typ {
			t.Fatalf("got %s, want a %s", m.Raw, typ)
		}
	}
	c.Send(`{"type":"error","code":"bad_request","msg":"echo"}`)
	if m := c.Next(); m.Type != "error" || m.Msg != "echo" {
		t.Errorf("echoed %s decoded as %+v", m.Raw, m)
	}
	if err := c.ReadUntilError(5 * time.Second); websocket.CloseStatus(err) != 4001 {
		t.Errorf("ReadUntilError = %v, want close status 4001", err)
	}
	if _, err := c.Read(); websocket.CloseStatus(err) != 4001 {
		t.Errorf("Read after the close = %v, want close status 4001 again", err)
	}
}
