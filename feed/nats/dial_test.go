package nats

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// TestDialAsSourceDoes checks a publisher's connection has Run's tuning:
// it waits for a server that is not up yet, pings, and backs off with
// jitter rather than at a fixed interval.
func TestDialAsSourceDoes(t *testing.T) {
	t.Parallel()
	port := natstest.FreePort(t)
	nc, err := Dial([]string{fmt.Sprintf("nats://127.0.0.1:%d", port)}, "test-publish", 20*time.Millisecond)
	if err != nil {
		t.Fatalf("Dial with no server up = %v, want a connection that retries", err)
	}
	defer nc.Close()
	if nc.Opts.PingInterval != pingInterval || nc.Opts.MaxReconnect != -1 || nc.Opts.CustomReconnectDelayCB == nil || nc.Opts.Name != "test-publish" {
		t.Errorf("Dial options: ping %v, max reconnect %d, custom delay %v, name %q; want %v, -1, set, test-publish",
			nc.Opts.PingInterval, nc.Opts.MaxReconnect, nc.Opts.CustomReconnectDelayCB != nil, nc.Opts.Name, pingInterval)
	}
	natstest.Run(t, natstest.Options(port))
	poll.Until(t, 10*time.Second, func() error {
		if !nc.IsConnected() {
			return fmt.Errorf("not connected: %v", nc.Status())
		}
		return nil
	})
}

func TestDialRejectsNegativeWait(t *testing.T) {
	t.Parallel()
	if nc, err := Dial(nil, "", -time.Second); err == nil {
		nc.Close()
		t.Error("Dial with a negative wait = nil error")
	}
}
