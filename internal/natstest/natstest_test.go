package natstest

import (
	"fmt"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestClusterRoutes publishes on one node and receives on another.
func TestClusterRoutes(t *testing.T) {
	nodes := RunCluster(t, 3)
	sub, err := natsgo.Connect(nodes[0].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ch := make(chan *natsgo.Msg, 1)
	if _, err := sub.ChanSubscribe("x", ch); err != nil {
		t.Fatal(err)
	}
	if err := sub.Flush(); err != nil {
		t.Fatal(err)
	}
	pub, err := natsgo.Connect(nodes[2].ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// Interest crosses the route asynchronously: publish until one arrives.
	deadline := time.After(10 * time.Second)
	for {
		pub.Publish("x", []byte("hi"))
		select {
		case m := <-ch:
			if string(m.Data) != "hi" {
				t.Fatalf("got %q", m.Data)
			}
			return
		case <-deadline:
			t.Fatal("no message across the cluster within 10s")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestRunAtFreePort starts a server on a port handed out before.
func TestRunAtFreePort(t *testing.T) {
	port := FreePort(t)
	s := Run(t, Options(port))
	if want := fmt.Sprintf("nats://127.0.0.1:%d", port); s.ClientURL() != want {
		t.Errorf("ClientURL = %s, want %s", s.ClientURL(), want)
	}
	Stop(s)
	if s.Running() {
		t.Error("server running after Stop")
	}
}

// TestClientNode connects one client to the second node: ClientNode must
// name that node, and another as the survivor.
func TestClientNode(t *testing.T) {
	nodes := RunCluster(t, 3)
	nc, err := natsgo.Connect(ClientURLs(nodes)[1], natsgo.DontRandomize(), natsgo.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	client, other := ClientNode(t, nodes)
	if client != nodes[1] || other == nodes[1] || other == nil {
		t.Fatalf("ClientNode = %v, %v; want node 1 and another", client.ClientURL(), other)
	}
}
